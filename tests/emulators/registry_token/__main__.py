"""`python -m tests.emulators.registry_token --dir DIR --user NAME:PASSWORD [--port N]`: a token
server in the foreground (Ctrl-C stops it); it prints the registry config lines that trust it.
The password is read from FLOWPLAN_TOKEN_PASSWORD when --user gives only NAME."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .server import TokenService


def main() -> int:
    parser = argparse.ArgumentParser(description="A Docker token-auth server for tests.")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--user", action="append", default=[], help="NAME[:PASSWORD]")
    parser.add_argument("--port", type=int, default=0)
    options = parser.parse_args()
    users = {}
    for item in options.user:
        name, colon, password = item.partition(":")
        users[name] = password if colon else os.environ.get("FLOWPLAN_TOKEN_PASSWORD", "")
    service = TokenService(options.dir, users, port=options.port)
    print("\n".join(service.registry_config()), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

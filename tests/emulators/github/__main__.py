"""`python -m tests.emulators.github`: the hooks API emulator as a process of its own, accepting
one token, with the repositories named; it prints its base URL and serves until stopped (SIGINT or
SIGTERM)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import GithubEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.emulators.github",
                                     description="Emulated GitHub hooks API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", required=True, help="the token requests must carry")
    parser.add_argument("--repository", action="append", default=[],
                        help="OWNER/NAME of a repository that exists (repeatable; default "
                             "octo-org/app)")
    args = parser.parse_args(argv)
    if not args.host.startswith("127."):
        parser.error("the emulator listens on 127.0.0.0/8 only")
    emulator = GithubEmulator(args.token, tuple(args.repository) or ("octo-org/app",),
                              host=args.host, port=args.port)
    stopped = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopped.set())
    with emulator:
        print(f"GitHub emulator listening on {emulator.base_url} "
              f"({', '.join(sorted(emulator.repositories))})", flush=True)
        stopped.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

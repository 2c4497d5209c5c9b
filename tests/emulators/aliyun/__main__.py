"""`python -m tests.emulators.aliyun`: the ECS emulator as a process of its own, accepting one
access key pair, with instances from a JSON file; it prints its endpoint and serves until stopped
(SIGINT or SIGTERM)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .server import EcsEmulator, load_instances


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.emulators.aliyun",
                                     description="Emulated Alibaba Cloud ECS API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--access-key-secret", required=True)
    parser.add_argument("--instances", type=Path,
                        help="JSON list of {id, region, private_ip, tags, status}")
    parser.add_argument("--region", action="append", default=[],
                        help="a region to know besides those of the instances")
    parser.add_argument("--root", type=Path,
                        help="where instances' home directories go (default: a temporary one)")
    args = parser.parse_args(argv)
    if not args.host.startswith("127."):
        parser.error("the emulator listens on 127.0.0.0/8 only")
    instances = load_instances(args.instances) if args.instances else []
    emulator = EcsEmulator({args.access_key_id: args.access_key_secret}, instances,
                           root=args.root, host=args.host, port=args.port,
                           regions=tuple(args.region))
    stopped = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopped.set())
    with emulator:
        print(f"ECS emulator listening on {emulator.endpoint} "
              f"({len(instances)} instances, homes under {emulator.root})", flush=True)
        stopped.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

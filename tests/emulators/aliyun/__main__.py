"""`python -m tests.emulators.aliyun`: the ECS and Container Registry emulator as a process of its
own, accepting one access key pair, with instances from a JSON file, Container Registry
Enterprise instances (`--cr-instance ID`) and the registry host and login it reports
(`--registry-domain`, `--registry-username`, `--registry-password`); it prints its endpoint and
serves until stopped (SIGINT or SIGTERM)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .container_registry import ContainerRegistry, Login
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
    parser.add_argument("--cr-instance", action="append", default=[],
                        help="a Container Registry Enterprise Edition instance id (cri-...)")
    parser.add_argument("--registry-domain",
                        help="the registry host Container Registry reports (127.0.0.1:5000)")
    parser.add_argument("--registry-username", default="cr_temp_user")
    parser.add_argument("--registry-password", default="emulated-registry-token")
    args = parser.parse_args(argv)
    if not args.host.startswith("127."):
        parser.error("the emulator listens on 127.0.0.0/8 only")
    instances = load_instances(args.instances) if args.instances else []
    registry = ContainerRegistry(region=(args.region or [i.region for i in instances] or
                                         ["cn-hangzhou"])[0],
                                 personal_domain=args.registry_domain or "",
                                 login=Login(args.registry_username, args.registry_password))
    for instance_id in args.cr_instance:
        registry.add_instance(instance_id, args.registry_domain)
    emulator = EcsEmulator({args.access_key_id: args.access_key_secret}, instances,
                           root=args.root, host=args.host, port=args.port,
                           regions=tuple(args.region), registry=registry)
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

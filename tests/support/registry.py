"""Real container registries for tests: Debian's `docker-registry` (Docker Distribution 2.8, the
registry v2 server) on 127.0.0.1, and what reading images back with skopeo needs.

    with start_registry(tmp_path) as registry:                      # open: anyone pushes
        registry.url, registry.host                                 # http://127.0.0.1:P, 127.0.0.1:P
    with start_registry(tmp_path, users={"ci": "s3cret"}) as registry:   # htpasswd (basic auth)
        registry.credentials                                        # ("ci", "s3cret")

Each registry is its own process with its own storage directory, config and free port, served
over plain HTTP (clients need `--tls-verify=false` / `insecure`). `stop()` (or leaving the `with`)
terminates it. `registry_problem()` says why none can start here (the package missing), for a
skip reason. `skopeo_inspect(reference, ...)` and `skopeo_raw(...)` read an image back.

From a shell, a registry that outlives the command, for trying the image example by hand:

    python -m tests.support.registry --dir DIR [--user NAME:PASSWORD]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REGISTRY = "docker-registry"
STARTUP_SECONDS = 20.0


def registry_problem() -> str | None:
    """Why no registry can be started here, or None."""
    if shutil.which(REGISTRY) is None:
        return "docker-registry is not installed (Debian package docker-registry)"
    return None


def skopeo_problem() -> str | None:
    if shutil.which("skopeo") is None:
        return "skopeo is not installed (Debian package skopeo)"
    return None


@dataclass
class Registry:
    host: str                                   # 127.0.0.1:PORT, as image references name it
    directory: Path
    process: subprocess.Popen
    credentials: tuple[str, str] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        path = self.directory / "registry.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tags(self, repository: str) -> list[str]:
        """The tags of `repository` as the registry's API lists them ([] when it has none)."""
        request = urllib.request.Request(f"{self.url}/v2/{repository}/tags/list")
        if self.credentials:
            import base64
            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return sorted(json.load(answer).get("tags") or [])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def start_registry(directory: Path, users: dict[str, str] | None = None) -> Iterator[Registry]:
    registry = launch(directory, users)
    try:
        yield registry
    finally:
        registry.stop()


def launch(directory: Path, users: dict[str, str] | None = None) -> Registry:
    """Start a registry whose files live in `directory` (made if absent); basic auth with
    `users` (name: password, kept as bcrypt hashes in an htpasswd file) when given."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = ["version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: true",
              "storage:", "  filesystem:", f"    rootdirectory: {directory / 'storage'}",
              "  delete:", "    enabled: true", "http:", f"  addr: 127.0.0.1:{port}"]
    if users:
        import bcrypt

        htpasswd = directory / "htpasswd"
        htpasswd.write_text("".join(
            f"{name}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
            for name, password in users.items()))
        config += ["auth:", "  htpasswd:", "    realm: flowplan-test", f"    path: {htpasswd}"]
    (directory / "config.yml").write_text("\n".join(config) + "\n")
    log = open(directory / "registry.log", "ab")
    process = subprocess.Popen([REGISTRY, "serve", str(directory / "config.yml")],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    log.close()
    credentials = next(iter(users.items())) if users else None
    registry = Registry(f"127.0.0.1:{port}", directory, process, credentials)
    _wait_ready(registry)
    return registry


def _wait_ready(registry: Registry) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            raise RuntimeError(f"docker-registry exited at start:\n{registry.log()}")
        try:
            with urllib.request.urlopen(f"{registry.url}/v2/", timeout=2):
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:             # up, and asking for credentials
                return
        except OSError:
            pass
        time.sleep(0.05)
    registry.stop()
    raise RuntimeError(f"docker-registry did not answer within {STARTUP_SECONDS:.0f} s:\n"
                       f"{registry.log()}")


def skopeo_inspect(reference: str, *, credentials: tuple[str, str] | None = None,
                   raw: bool = False, config: bool = False) -> dict:
    """`skopeo inspect` of `docker://reference` over plain HTTP: the image's summary, or its
    manifest (`raw`) or config (`config`) as the registry serves them."""
    argv = ["skopeo", "inspect", "--tls-verify=false"]
    if raw:
        argv.append("--raw")
    if config:
        argv.append("--config")
    if credentials:
        argv += ["--creds", ":".join(credentials)]
    argv.append(f"docker://{reference}")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"skopeo inspect {reference} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def skopeo_copy_to_dir(reference: str, destination: Path, *,
                       credentials: tuple[str, str] | None = None) -> Path:
    """The image copied out of the registry into `destination` (skopeo's `dir:` layout: the
    manifest, the config and each layer as a file named by its digest)."""
    argv = ["skopeo", "copy", "--src-tls-verify=false"]
    if credentials:
        argv += ["--src-creds", ":".join(credentials)]
    argv += [f"docker://{reference}", f"dir:{destination}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"skopeo copy {reference} failed: {done.stderr.strip()}")
    return destination


def main() -> int:
    parser = argparse.ArgumentParser(description="Start a docker-registry on 127.0.0.1.")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--user", help="NAME:PASSWORD for basic auth")
    options = parser.parse_args()
    users = dict([options.user.split(":", 1)]) if options.user else None
    registry = launch(options.dir, users)
    print(f"registry {registry.url} (pid {registry.process.pid}); stop it with "
          f"kill {registry.process.pid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

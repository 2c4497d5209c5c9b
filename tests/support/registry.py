"""Real container registries for tests: Debian's `docker-registry` (Docker Distribution 2.8, the
registry v2 server) on 127.0.0.1, and what reading images back with skopeo needs.

    with start_registry(tmp_path) as registry:                      # open: anyone pushes
        registry.url, registry.host                          # http://127.0.0.1:P, 127.0.0.1:P
    with start_registry(tmp_path, users={"ci": "s3cret"}) as registry:   # htpasswd (basic auth)
        registry.credentials                                        # ("ci", "s3cret")
    with start_registry(tmp_path, users={"ci": "s3cret"}, auth="token") as registry:
        registry.token_service                                      # Bearer tokens, see below

Each registry is its own process with its own storage directory, config and free port, served
over plain HTTP, or https with a self-signed certificate (`tls=True`); clients need
`--tls-verify=false` / `insecure` either way. `stop()` (or leaving the `with`)
terminates it. With `auth="token"` the registry trusts a Docker token-auth server
(tests/emulators/registry_token, in this process) that hands out JWTs for `users`: clients get a
401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...` and do the token flow.
`registry_problem()` says why none can start here (the package missing), for a skip reason.
`skopeo_inspect(reference, ...)` and `skopeo_copy_to_dir(...)` read an image back;
`tiny_oci_layout(dir)` makes a one-layer image without any build tool and `skopeo_push(layout,
reference, credentials=...)` pushes it. skopeo gets credentials through a 0600 auth file that is
removed afterwards, never through argv.

From a shell, a registry that outlives the command, for trying the image example by hand:

    python -m tests.support.registry --dir DIR [--user NAME:PASSWORD]   (htpasswd)

or, with token auth, one that stays in the foreground with its token server until Ctrl-C:

    python -m tests.support.registry --dir DIR --user NAME:PASSWORD --auth token
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from tests.support.ports import free_port

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
    token_service: Any = None                   # a TokenService when auth="token"
    certificate: Path | None = None             # the self-signed certificate when tls=True

    @property
    def url(self) -> str:
        return f"{'https' if self.certificate else 'http'}://{self.host}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.token_service is not None:
            self.token_service.stop()
            self.token_service = None

    def log(self) -> str:
        path = self.directory / "registry.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tags(self, repository: str) -> list[str]:
        """The tags of `repository` as the registry's API lists them ([] when it has none)."""
        request = urllib.request.Request(f"{self.url}/v2/{repository}/tags/list")
        if self.credentials:
            scope = f"repository:{repository}:pull"
            request.add_header("Authorization", self._authorization(scope))
        try:
            with urllib.request.urlopen(request, timeout=10, context=_unverified()) as answer:
                return sorted(json.load(answer).get("tags") or [])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise


    def _authorization(self, scope: str) -> str:
        import base64

        basic = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        if self.token_service is None:
            return basic
        service = self.token_service
        query = urllib.parse.urlencode({"service": service.service, "scope": scope})
        request = urllib.request.Request(f"{service.realm}?{query}",
                                         headers={"Authorization": basic})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return f"Bearer {json.load(answer)['token']}"



def _unverified() -> Any:
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@contextmanager
def start_registry(directory: Path, users: dict[str, str] | None = None,
                   auth: str | None = None, *, tls: bool = False) -> Iterator[Registry]:
    registry = launch(directory, users, auth, tls=tls)
    try:
        yield registry
    finally:
        registry.stop()


def launch(directory: Path, users: dict[str, str] | None = None,
           auth: str | None = None, *, tls: bool = False) -> Registry:
    """Start a registry whose files live in `directory` (made if absent). `auth`: None (open,
    or "htpasswd" when `users` are given), "htpasswd" (basic auth for `users`, kept as bcrypt
    hashes in an htpasswd file) or "token" (Bearer tokens from a TokenService that checks
    `users`). With `tls`, served over https with a self-signed certificate for 127.0.0.1 (which
    no client trusts: `insecure` / `--tls-verify=false`)."""
    auth = auth or ("htpasswd" if users else None)
    if auth not in (None, "htpasswd", "token"):
        raise ValueError(f"auth is None, 'htpasswd' or 'token', not {auth!r}")
    if auth and not users:
        raise ValueError(f"auth={auth!r} needs users")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = ["version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: true",
              "storage:", "  filesystem:", f"    rootdirectory: {directory / 'storage'}",
              "  delete:", "    enabled: true", "http:", f"  addr: 127.0.0.1:{port}"]
    certificate = None
    if tls:
        certificate, key = _self_signed(directory)
        config += ["  tls:", f"    certificate: {certificate}", f"    key: {key}"]
    token_service = None
    if auth == "token":
        from tests.emulators.registry_token import TokenService

        token_service = TokenService(directory / "token", users)
        config += token_service.registry_config()
    elif auth == "htpasswd":
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
    registry = Registry(f"127.0.0.1:{port}", directory, process, credentials, token_service,
                        certificate)
    try:
        _wait_ready(registry)
    except BaseException:
        registry.stop()
        raise
    return registry


def _wait_ready(registry: Registry) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            raise RuntimeError(f"docker-registry exited at start:\n{registry.log()}")
        try:
            with urllib.request.urlopen(f"{registry.url}/v2/", timeout=2,
                                        context=_unverified()):
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


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A key and a self-signed certificate for 127.0.0.1, as PEM files in `directory`."""
    import ipaddress
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=30))
                   .add_extension(x509.SubjectAlternativeName(
                       [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                   .sign(key, hashes.SHA256()))
    certificate_path, key_path = directory / "tls.crt", directory / "tls.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return certificate_path, key_path


@contextmanager
def _authfile(reference: str, credentials: tuple[str, str] | None) -> Iterator[Path | None]:
    """An auth.json (0600, in a private temporary directory, removed afterwards) holding
    `credentials` for the reference's registry: skopeo reads them from there, never from argv."""
    if not credentials:
        yield None
        return
    import base64
    import os
    import tempfile

    host = reference.split("/", 1)[0]
    token = base64.b64encode(":".join(credentials).encode()).decode()
    with tempfile.TemporaryDirectory(prefix="flowplan-skopeo-") as private:
        path = Path(private) / "auth.json"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump({"auths": {host: {"auth": token}}}, out)
        yield path


def skopeo_inspect(reference: str, *, credentials: tuple[str, str] | None = None,
                   raw: bool = False, config: bool = False) -> dict:
    """`skopeo inspect` of `docker://reference` (plain HTTP, or https unverified): the image's
    summary, or its manifest (`raw`) or config (`config`) as the registry serves them."""
    argv = ["skopeo", "inspect", "--tls-verify=false"]
    if raw:
        argv.append("--raw")
    if config:
        argv.append("--config")
    with _authfile(reference, credentials) as authfile:
        if authfile:
            argv += ["--authfile", str(authfile)]
        argv.append(f"docker://{reference}")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"skopeo inspect {reference} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def tiny_oci_layout(directory: Path, *, text: str = "hello from flowplan\n",
                    label: str = "tiny") -> Path:
    """A one-layer image in the OCI layout at `directory` (tag `latest`): the layer holds
    /hello.txt with `text`, the config a label `org.flowplan.test` = `label`. Made with tarfile
    and hashlib only, no build tool; different `text` or `label` make a different digest."""
    import gzip
    import hashlib
    import io
    import tarfile

    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def blob(data: bytes, media_type: str) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        content = text.encode()
        member = tarfile.TarInfo("hello.txt")
        member.size, member.mtime, member.mode = len(content), 0, 0o644
        tar.addfile(member, io.BytesIO(content))
    layer_tar = archive.getvalue()
    layer = blob(gzip.compress(layer_tar, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
    config = blob(json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"org.flowplan.test": label}},
        "rootfs": {"type": "layers",
                   "diff_ids": [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"]},
    }).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = blob(json.dumps({"schemaVersion": 2,
                                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "config": config, "layers": [layer]}).encode(),
                    "application/vnd.oci.image.manifest.v1+json")
    manifest["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2,
                                                      "manifests": [manifest]}))
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return directory


def skopeo_push(layout: Path, reference: str, *,
                credentials: tuple[str, str] | None = None) -> str:
    """Push the OCI layout's `latest` to `docker://reference` (plain HTTP, or https unverified);
    the pushed manifest's digest."""
    argv = ["skopeo", "copy", "--dest-tls-verify=false", "--dest-precompute-digests"]
    digest_file = layout.parent / f".{layout.name}-digest"
    with _authfile(reference, credentials) as authfile:
        if authfile:
            argv += ["--dest-authfile", str(authfile)]
        argv += ["--digestfile", str(digest_file), f"oci:{layout}:latest",
                 f"docker://{reference}"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"skopeo copy to {reference} failed: {done.stderr.strip()}")
    digest = digest_file.read_text().strip()
    digest_file.unlink()
    return digest


def skopeo_copy_to_dir(reference: str, destination: Path, *,
                       credentials: tuple[str, str] | None = None) -> Path:
    """The image copied out of the registry into `destination` (skopeo's `dir:` layout: the
    manifest, the config and each layer as a file named by its digest)."""
    argv = ["skopeo", "copy", "--src-tls-verify=false"]
    with _authfile(reference, credentials) as authfile:
        if authfile:
            argv += ["--src-authfile", str(authfile)]
        argv += [f"docker://{reference}", f"dir:{destination}"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"skopeo copy {reference} failed: {done.stderr.strip()}")
    return destination


def main() -> int:
    parser = argparse.ArgumentParser(description="Start a docker-registry on 127.0.0.1.")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--user", help="NAME:PASSWORD for basic auth")
    parser.add_argument("--auth", choices=("htpasswd", "token"), default=None,
                        help="token: also serve Bearer tokens (this command then stays in the "
                             "foreground; Ctrl-C stops both)")
    options = parser.parse_args()
    users = dict([options.user.split(":", 1)]) if options.user else None
    registry = launch(options.dir, users, options.auth)
    if registry.token_service is None:
        print(f"registry {registry.url} (pid {registry.process.pid}); stop it with "
              f"kill {registry.process.pid}")
        return 0
    print(f"registry {registry.url}, tokens from {registry.token_service.realm}; Ctrl-C (or "
          "SIGTERM) stops both", flush=True)
    import signal

    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(0))
    try:
        registry.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        registry.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

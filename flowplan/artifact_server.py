"""ArtifactServer: hands files to hosts that fetch them over HTTP, at one-time, token-protected
URLs.

A deploy through Cloud Assistant cannot push a file to an instance; the instance fetches it. The
deploy registers each file it hands out (`grant`) and gets a URL under the `artifact_url` setting
(`http://HOST:PORT`, the address the hosts can reach: the server listens there), such as
`http://10.0.0.2:8400/a/3f9c.../Xq2...`. What it serves, and to whom:

- only the files granted, each opened when granted (a regular file, not through a symbolic
  link), so nothing in a URL ever names a path: there is no directory, listing or traversal;
- a grant is an id and a 256-bit secret; the id finds the grant and the secret is compared in
  constant time; it is good for `uses` downloads (one by default) and until `expires` seconds
  have passed, and every grant ends when the server closes (the end of the deploy);
- whatever is wrong (unknown id, wrong secret, used or expired grant, any other path, a query
  string) is the same bare 404, so a caller learns nothing about which part was wrong; only GET is
  served; a slow client is dropped after `timeout` seconds.

Plain HTTP: the secret protects the file from other callers, not from someone who can read the
network between flowplan and the hosts; the hosts check the file's SHA-256 before using it.
One server per address is shared by the deploys of a process (`shared`), since one port can only
be bound once. Standard library only; the transports that hand out the URLs are the providers'.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_PATH = re.compile(r"/a/([0-9a-f]{16})/([A-Za-z0-9_-]{43})\Z")
_CHUNK = 256 * 1024


class ArtifactServerError(Exception):
    """The server cannot start (a bad `artifact_url`, a port taken) or a file cannot be granted."""


@dataclass(frozen=True)
class Grant:
    """What a granted file is reached by; `url` holds the secret: never log it."""

    id: str
    url: str
    size: int

    def __repr__(self) -> str:
        return f"Grant(id={self.id!r}, size={self.size})"


class _Granted:
    def __init__(self, fd: int, size: int, secret: str, uses: int, deadline: float):
        self.fd, self.size, self.secret = fd, size, secret
        self.uses, self.deadline = uses, deadline
        self.readers = 0                      # downloads in flight: the file stays open
        self.removed = False


def parse_artifact_url(url: str) -> tuple[str, int]:
    """(host, port) of an `artifact_url`; ArtifactServerError when it is not http://HOST:PORT."""
    split = urlsplit(url)
    try:
        port = split.port
    except ValueError:
        port = None
    if split.scheme != "http" or not split.hostname or port is None or \
            split.path not in ("", "/") or split.query or split.fragment or split.username:
        raise ArtifactServerError(f"artifact_url must be http://HOST:PORT (the address the hosts "
                                  f"reach this machine at), not {url!r}")
    return split.hostname, port


class ArtifactServer:
    """Serves granted files at `url`; start() or use as a context manager, close() at the end."""

    def __init__(self, artifact_url: str, *, timeout: float = 30.0):
        host, port = parse_artifact_url(artifact_url)
        self._host = host
        self._timeout = timeout
        self._grants: dict[str, _Granted] = {}
        self._lock = threading.Lock()
        self.served = 0                       # downloads completed, for tests and logs
        self.refused = 0                      # requests answered 404/405
        try:
            self._server = ThreadingHTTPServer((host, port), self._handler())
        except OSError as error:
            raise ArtifactServerError(f"cannot listen at {host}:{port} for artifact_url: "
                                      f"{error.strerror or error}") from None
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._server.server_address[1]}"

    def start(self) -> "ArtifactServer":
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                            name="artifact server")
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and end every grant."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()
        with self._lock:
            for grant_id in list(self._grants):
                self._remove(grant_id)

    def __enter__(self) -> "ArtifactServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- grants ---------------------------------------------------------------------------------

    def grant(self, path: Path, *, uses: int = 1, expires: float = 3600.0) -> Grant:
        """Serve the regular file `path` (opened now, not through a symbolic link) `uses` times
        for at most `expires` seconds."""
        if uses < 1:
            raise ValueError("uses must be at least 1")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as error:
            raise ArtifactServerError(f"cannot serve {path}: {error.strerror or error}") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise ArtifactServerError(f"cannot serve {path}: not a regular file")
        grant_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self._lock:
            self._grants[grant_id] = _Granted(fd, info.st_size, secret, uses,
                                              time.monotonic() + expires)
        return Grant(grant_id, f"{self.url}/a/{grant_id}/{secret}", info.st_size)

    def revoke(self, grant: Grant) -> None:
        with self._lock:
            self._remove(grant.id)

    def _remove(self, grant_id: str) -> None:
        """End a grant (the lock held); its file is closed once no download reads it."""
        granted = self._grants.pop(grant_id, None)
        if granted is not None:
            granted.removed = True
            if granted.readers == 0:
                os.close(granted.fd)

    def _take(self, path: str) -> _Granted | None:
        """The grant `path` names, with one use taken; None for anything else."""
        match = _PATH.match(path)
        if match is None:
            return None
        with self._lock:
            granted = self._grants.get(match.group(1))
            if granted is None:
                # Compare anyway, so that an unknown id costs what a wrong secret does.
                hmac.compare_digest(match.group(2).encode(), b"x" * 43)
                return None
            if not hmac.compare_digest(match.group(2).encode(), granted.secret.encode()):
                return None
            if time.monotonic() > granted.deadline:
                self._remove(match.group(1))
                return None
            granted.uses -= 1
            granted.readers += 1
            if granted.uses == 0:
                self._remove(match.group(1))
            return granted

    def _finished(self, granted: _Granted) -> None:
        with self._lock:
            granted.readers -= 1
            if granted.removed and granted.readers == 0:
                os.close(granted.fd)

    # -- HTTP -------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "flowplan"
            sys_version = ""
            timeout = server._timeout

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass                              # a URL logged would be a secret logged

            def do_GET(self) -> None:
                granted = server._take(self.path)
                if granted is None:
                    self._refuse(404, "Not Found")
                    return
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(granted.size))
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    offset = 0
                    while offset < granted.size:
                        chunk = os.pread(granted.fd, min(_CHUNK, granted.size - offset), offset)
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        offset += len(chunk)
                    if offset == granted.size:
                        with server._lock:
                            server.served += 1
                finally:
                    server._finished(granted)

            def _refuse(self, status: int, text: str) -> None:
                with server._lock:
                    server.refused += 1
                body = f"{text}\n".encode()
                self.send_response(status)
                if status == 405:
                    self.send_header("Allow", "GET")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                self.close_connection = True

            def _not_allowed(self) -> None:
                self._refuse(405, "Method Not Allowed")

            do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

        return Handler


class _Shared:
    def __init__(self, server: ArtifactServer):
        self.server, self.users = server, 0


_SHARED: dict[str, _Shared] = {}
_SHARED_LOCK = threading.Lock()


class shared:
    """`with shared(artifact_url) as server:` the process's server at that address, started on
    first use and closed when its last user leaves; grants made through it are revoked on leaving.
    A port of 0 is not shared (each user gets a server on a free port of its own)."""

    def __init__(self, artifact_url: str):
        self._url = artifact_url
        self._key = ""
        self._grants: list[Grant] = []
        self.server: ArtifactServer | None = None

    def __enter__(self) -> "shared":
        host, port = parse_artifact_url(self._url)
        self._key = f"{host}:{port}" if port else f"{host}:0:{id(self)}"
        with _SHARED_LOCK:
            entry = _SHARED.get(self._key)
            if entry is None:
                entry = _SHARED[self._key] = _Shared(ArtifactServer(self._url).start())
            entry.users += 1
            self.server = entry.server
        return self

    def grant(self, path: Path, *, uses: int = 1, expires: float = 3600.0) -> Grant:
        assert self.server is not None, "use `with shared(url) as served:`"
        grant = self.server.grant(path, uses=uses, expires=expires)
        self._grants.append(grant)
        return grant

    def __exit__(self, *exc: object) -> None:
        with _SHARED_LOCK:
            entry = _SHARED[self._key]
            for grant in self._grants:
                entry.server.revoke(grant)
            entry.users -= 1
            if entry.users == 0:
                del _SHARED[self._key]
                entry.server.close()
        self.server = None

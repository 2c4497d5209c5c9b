"""A worker's side of moving files through the server: `RemoteFiles` uploads the artifacts and
caches a task makes, and downloads the artifacts of earlier tasks of its run and the cache
entries it restores, through the worker routes (flowplan.server.worker_api) with the worker's
token (`$FLOWPLAN_WORKER_TOKEN`).

Files are streamed in blocks both ways (never read whole into memory). Each upload carries the
file's SHA-256, which the server checks before keeping it; each download is written next to its
place, checked against the SHA-256 the store recorded, then renamed into place, so a damaged or
changed file is refused and never used. The token goes in the Authorization header only: no
message here holds it. Which files there are is the store's (artifacts, the cache index);
where they go on this machine is the run's layout (flowplan.executor.run.layout).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

BLOCK = 256 * 1024
TIMEOUT = 60.0          # seconds a request may stay silent


class RemoteFileError(Exception):
    """A transfer through the server failed; the message says which file and why."""


class RemoteFiles:
    """The worker routes of one server, with one worker token; safe to share between threads."""

    def __init__(self, server_url: str, token: str) -> None:
        self.base = server_url.rstrip("/") + "/api/v1/worker"
        self._token = token

    def __repr__(self) -> str:          # never show the token
        return f"RemoteFiles({self.base!r})"

    def for_task(self, run_id: int, task_run_id: int) -> TaskFiles:
        return TaskFiles(self, run_id, task_run_id)

    # -- artifacts ------------------------------------------------------------------------------

    def upload_artifact(self, run_id: int, task_run_id: int, name: str, path: Path,
                        sha256: str) -> str:
        """Send the artifact file (an archive, `NAME.tgz`, or a report kept under its own
        name); where the server keeps it (the path the store records)."""
        url = (self._task_url(run_id, task_run_id, "artifacts", name) + "?file="
               + quote(path.name, ""))
        said = self._upload(url, path, sha256, f"artifact {name!r}")
        return str(said["path"])

    def fetch_artifact(self, run_id: int, task_run_id: int, name: str, target: Path,
                       sha256: str) -> Path:
        """The artifact at `target` on this machine, downloaded unless already there intact."""
        return self._download(self._task_url(run_id, task_run_id, "artifacts", name), target,
                              sha256, f"artifact {name!r}")

    # -- caches ---------------------------------------------------------------------------------

    def upload_cache(self, run_id: int, task_run_id: int, cache: str, key: str, path: Path,
                     sha256: str) -> bool:
        """Send a cache archive saved under `key`; False when that key was saved meanwhile."""
        url = self._task_url(run_id, task_run_id, "caches", cache) + "?key=" + quote(key, "")
        return bool(self._upload(url, path, sha256, f"cache {cache!r}")["saved"])

    def fetch_cache(self, run_id: int, task_run_id: int, cache: str, key: str, target: Path,
                    sha256: str) -> Path:
        url = self._task_url(run_id, task_run_id, "caches", cache) + "?key=" + quote(key, "")
        return self._download(url, target, sha256, f"cache {cache!r} (key {key})")

    # -- HTTP -----------------------------------------------------------------------------------

    def _task_url(self, run_id: int, task_run_id: int, kind: str, name: str) -> str:
        return (f"{self.base}/runs/{int(run_id)}/tasks/{int(task_run_id)}/{kind}/"
                f"{quote(name, safe='')}")

    def _request(self, url: str, method: str, data: Any = None,
                 headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self._token}", **(headers or {})})
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT)   # noqa: S310 - http(s) only
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read(4096) or b"{}").get("error") or exc.reason
            except ValueError:
                detail = exc.reason
            raise RemoteFileError(f"the server answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if data is not None and isinstance(reason, (ConnectionResetError, BrokenPipeError)):
                raise RemoteFileError(
                    f"the server {self.base} closed the connection before the whole file was "
                    "sent: it refuses a file over its size limit, a name that is not a plain "
                    "file name, and a task this worker does not run now"
                ) from None
            raise RemoteFileError(f"the server {self.base} cannot be reached: {reason}") from None

    def _upload(self, url: str, path: Path, sha256: str, what: str) -> dict[str, Any]:
        size = path.stat().st_size
        try:
            with open(path, "rb") as data:
                # a file object with a Content-Length is sent in blocks by http.client
                with self._request(url, "PUT", data, {
                        "Content-Length": str(size), "Content-Type": "application/octet-stream",
                        "X-Content-SHA256": sha256}) as answer:
                    return json.loads(answer.read(65536))
        except RemoteFileError as exc:
            raise RemoteFileError(f"uploading {what} ({size} bytes) failed: {exc}") from None

    def _download(self, url: str, target: Path, sha256: str, what: str) -> Path:
        if target.is_file() and _sha256(target) == sha256:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            digest = hashlib.sha256()
            with os.fdopen(handle, "wb") as out:
                try:
                    with self._request(url, "GET") as answer:
                        for block in iter(lambda: answer.read(BLOCK), b""):
                            digest.update(block)
                            out.write(block)
                except RemoteFileError as exc:
                    raise RemoteFileError(f"downloading {what} failed: {exc}") from None
            if digest.hexdigest() != sha256:
                raise RemoteFileError(f"downloading {what}: its sha256 does not match the one "
                                      "recorded when it was made: refused")
            os.replace(temporary, target)
        finally:
            Path(temporary).unlink(missing_ok=True)
        return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


class TaskFiles:
    """RemoteFiles bound to the one task run a worker runs (what the server lets it reach)."""

    def __init__(self, files: RemoteFiles, run_id: int, task_run_id: int) -> None:
        self.files, self.run_id, self.task_run_id = files, run_id, task_run_id

    def upload_artifact(self, name: str, path: Path, sha256: str) -> str:
        return self.files.upload_artifact(self.run_id, self.task_run_id, name, path, sha256)

    def fetch_artifact(self, name: str, target: Path, sha256: str) -> Path:
        return self.files.fetch_artifact(self.run_id, self.task_run_id, name, target, sha256)

    def keep_cache(self, cache: str, key: str, path: Path, sha256: str) -> bool:
        return self.files.upload_cache(self.run_id, self.task_run_id, cache, key, path, sha256)

    def fetch_cache(self, cache: str, key: str, target: Path, sha256: str) -> Path:
        return self.files.fetch_cache(self.run_id, self.task_run_id, cache, key, target, sha256)

"""The routes workers on other machines move files through, under /api/v1/worker:

    PUT /api/v1/worker/runs/{run}/tasks/{task_run}/artifacts/{name}     an archive or report the
                                                                        task made (?file=)
    GET /api/v1/worker/runs/{run}/tasks/{task_run}/artifacts/{name}     an artifact of the run
    PUT /api/v1/worker/runs/{run}/tasks/{task_run}/caches/{cache}?key=  a cache entry to save
    GET /api/v1/worker/runs/{run}/tasks/{task_run}/caches/{cache}?key=  a saved cache entry

Who asks is `Authorization: Bearer fpw_...`, a worker token (flowplan.executor.distributed
.worker_tokens); a user's API token, a session, a revoked or forged token are 401. A worker
reaches only the task run it runs now, as the store's `worker_tasks` claim says (the worker
claims it when it starts the task and releases it at the end), and only through that task's
run: artifacts of that run, cache entries of its pipeline; anything else is 403. Names are one
plain file name each (flowplan.executor.run.layout.safe_name), else 400.

Uploads are streamed to a file next to their place under the server's own `artifacts_dir` and
`cache_dir` (the run's layout), counted as they come (past `flowplan { server {
max_upload_size } }`, default `MAX_UPLOAD_BYTES`, the request is refused with 413 and nothing
is kept), hashed, and kept only when their SHA-256 matches the
`X-Content-SHA256` header the worker sent (else 400). An artifact replaces the run's file of the
same name; a cache key is saved once (the first upload wins, as on one machine), and the entry is
added to the store's cache index here. Downloads stream the file the store records, which must
lie under the server's directories. Recording artifacts in the store stays the task runner's.
The store is read on the thread pool (the upload routes are async so that they can stream).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from flowplan.executor.distributed.worker_tokens import WorkerTokens
from flowplan.executor.errors import PathEscape
from flowplan.executor.run.layout import RunLayout, safe_name
from flowplan.server.api import ApiError, ErrorBody, JsonErrorRoute, context_of

MAX_UPLOAD_BYTES = 4 * 1024**3     # one file; app.state.worker_upload_limit overrides it
                                   # (flowplan.server.app sets it from max_upload_size)
MAX_KEY = 1000
_SHA256 = re.compile(r"[0-9a-f]{64}")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A bad name, or a SHA-256 that does not match"},
    401: {"model": ErrorBody, "description": "No valid worker token"},
    403: {"model": ErrorBody, "description": "Not a task run this worker executes now"},
    404: {"model": ErrorBody, "description": "No such run, task run, artifact or cache entry"},
    413: {"model": ErrorBody, "description": "Larger than a worker may upload"},
    422: {"model": ErrorBody, "description": "Invalid request"}}
router = APIRouter(prefix="/api/v1/worker", route_class=JsonErrorRoute, responses=_ERRORS)

Id = Annotated[int, PathParam(ge=1, le=2**62)]
FileName = Annotated[str, PathParam(min_length=1, max_length=255)]
Key = Annotated[str, Query(min_length=1, max_length=MAX_KEY)]


class _Task:
    """The run and task run a request may touch, and the server's layout of that run."""

    def __init__(self, run: Any, layout: RunLayout) -> None:
        self.run, self.layout = run, layout


def _tokens(request: Request) -> WorkerTokens:
    tokens = getattr(request.app.state, "worker_tokens", None)
    if tokens is None:
        tokens = request.app.state.worker_tokens = WorkerTokens(context_of(request).store)
    return tokens


def _worker(request: Request) -> str:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    worker = _tokens(request).worker_for(token.strip()) if scheme.lower() == "bearer" else None
    if worker is None:
        raise ApiError(401, "a worker token is required: send Authorization: Bearer fpw_... "
                            "(flowplan token create --worker NAME); user tokens are not taken "
                            "here", {"WWW-Authenticate": 'Bearer realm="flowplan-worker"'})
    return worker


def _task(request: Request, run_id: int, task_run_id: int) -> _Task:
    """What the asking worker may touch: 403 unless it runs that task run of that run now."""
    worker = _worker(request)
    store = context_of(request).store
    claim = store.task_claim(task_run_id)
    if claim is None or claim.worker != worker or claim.run_id != run_id:
        raise ApiError(403, f"worker {worker} does not run task run {task_run_id} of run "
                            f"{run_id} now: a worker reaches only the files of the task it runs")
    run = store.get_run(run_id)
    return _Task(run, RunLayout(context_of(request).service.settings, run.pipeline, run.number))


def _name(name: str, what: str) -> str:
    try:
        return safe_name(name, what)
    except PathEscape as exc:
        raise ApiError(400, str(exc)) from None


def _limit(request: Request) -> int:
    return int(getattr(request.app.state, "worker_upload_limit", MAX_UPLOAD_BYTES))


async def _receive(request: Request, directory: Path, label: str) -> tuple[str, int, str]:
    """The request's body streamed into a new file in `directory`: (its path, size, sha256);
    ApiError when it is too large or its SHA-256 is not the one announced."""
    announced = (request.headers.get("x-content-sha256") or "").lower()
    if not _SHA256.fullmatch(announced):
        raise ApiError(400, "X-Content-SHA256 must give the file's SHA-256 (64 hex digits)")
    limit = _limit(request)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ApiError(413, f"{label} is {int(length)} bytes, more than the {limit} a worker "
                            "may upload")
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".upload.", dir=directory)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            async for block in request.stream():
                size += len(block)
                if size > limit:
                    raise ApiError(413, f"{label} is more than the {limit} bytes a worker may "
                                        "upload")
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != announced:
            raise ApiError(400, f"{label}: the SHA-256 of what arrived does not match "
                                "X-Content-SHA256 (damaged on the way): not kept")
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return temporary, size, announced


def _under(path: Path, root: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.realpath(path).startswith(real_root + os.sep)


def _file(path: str | None, root: Path, sha256: str, what: str) -> FileResponse:
    if not path or not _under(Path(path), root) or not Path(path).is_file():
        raise ApiError(404, f"{what} is not on this server")
    return FileResponse(path, media_type="application/octet-stream",
                        headers={"X-Content-SHA256": sha256})


@router.put("/runs/{run_id}/tasks/{task_run_id}/artifacts/{name}")
async def upload_artifact(request: Request, run_id: Id, task_run_id: Id, name: FileName,
                          file: Annotated[str | None, Query(max_length=255)] = None
                          ) -> JSONResponse:
    """Keep an artifact the task made (`file`: `NAME.tgz`, an archive step's, the default; or
    `NAME` itself, a report a step keeps); answers where the server keeps it."""
    task = await run_in_threadpool(_task, request, run_id, task_run_id)
    name = _name(name, "artifact name")
    if file is None or file == f"{name}.tgz":
        target = task.layout.artifact_path(name)
    elif file == name:
        target = task.layout.artifact_file(name)
    else:
        raise ApiError(400, f"file {file[:60]!r}: an artifact's file is NAME.tgz or NAME")
    temporary, size, digest = await _receive(request, target.parent, f"artifact {name!r}")
    os.replace(temporary, target)
    return JSONResponse({"path": str(target), "size": size, "sha256": digest})


@router.get("/runs/{run_id}/tasks/{task_run_id}/artifacts/{name}", response_class=FileResponse)
def download_artifact(request: Request, run_id: Id, task_run_id: Id,
                      name: FileName) -> FileResponse:
    """An artifact of the task's run, made by an earlier task."""
    task = _task(request, run_id, task_run_id)
    record = context_of(request).store.get_artifact(run_id, _name(name, "artifact name"))
    if record is None:
        raise ApiError(404, f"run {run_id} has no artifact {name!r}")
    return _file(record.path, task.layout.settings.artifacts_dir, record.sha256,
                 f"artifact {name!r}")


@router.put("/runs/{run_id}/tasks/{task_run_id}/caches/{cache}")
async def upload_cache(request: Request, run_id: Id, task_run_id: Id, cache: FileName,
                       key: Key) -> JSONResponse:
    """Save a cache entry of the run's pipeline under `key`, unless that key is saved."""
    task = await run_in_threadpool(_task, request, run_id, task_run_id)
    target = task.layout.cache_path(_name(cache, "cache name"), key)
    temporary, size, digest = await _receive(request, target.parent, f"cache {cache!r}")
    try:
        try:
            os.link(temporary, target)          # the first save of a key wins
        except FileExistsError:
            return JSONResponse({"saved": False})
    finally:
        Path(temporary).unlink(missing_ok=True)
    saved = await run_in_threadpool(
        context_of(request).store.add_cache_entry, task.run.pipeline, cache, key,
        path=str(target), size=size, sha256=digest)
    return JSONResponse({"saved": bool(saved)})


@router.get("/runs/{run_id}/tasks/{task_run_id}/caches/{cache}", response_class=FileResponse)
def download_cache(request: Request, run_id: Id, task_run_id: Id, cache: FileName,
                   key: Key) -> FileResponse:
    """The cache entry of the run's pipeline saved under `key`."""
    task = _task(request, run_id, task_run_id)
    entry = context_of(request).store.find_cache_entry(task.run.pipeline,
                                                       _name(cache, "cache name"), key)
    if entry is None:
        raise ApiError(404, f"cache {cache!r} has no entry for key {key!r}")
    return _file(entry.path, task.layout.settings.cache_dir, entry.sha256, f"cache {cache!r}")

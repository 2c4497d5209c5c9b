"""Keeping a step's report files (SARIF, JUnit XML) with the run's artifacts.

A report lands in `<artifacts_dir>/<pipeline>/<number>/<file name>` (RunLayout.artifact_file),
written next to its place and renamed into it, so a reader never sees half of it; the returned
ArtifactFile is what the task runner records. A report the step's processes wrote is read from
the workspace only through `workspace_file`, which refuses a path (symlinks included) that leads
out of the workspace: a build script cannot make flowplan copy a file it may not read itself.

Steps that read many reports a build wrote (surefire's TEST-*.xml) use `report_files` to list a
report directory and `read_workspace_file` to read each one: the checked path is opened one
directory at a time without following links, so a link swapped in after the check is refused
rather than followed, and with `run_as` a file that is not the step user's own (a hard link to
someone else's file) is refused too. `ReportArchive` keeps several of them as one tar.gz.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import io
import os
import stat
import tarfile
import tempfile
import time
from pathlib import Path

from flowplan.executor.errors import PathEscape
from flowplan.executor.run.layout import inside
from flowplan.executor.step_type import ArtifactFile, StepContext

MAX_REPORT_BYTES = 64 * 1024 * 1024        # one report file; a bigger one is not kept
MAX_REPORT_FILES = 5000                    # report files listed in one directory


class ReportTooLarge(Exception):
    """A report file over MAX_REPORT_BYTES."""


def workspace_file(context: StepContext, relative: str | os.PathLike[str],
                   what: str = "report path") -> Path:
    """`relative` in the step's workspace, resolved; PathEscape (naming it `what`) when it leads
    outside."""
    return inside(context.workspace, relative, what)


def write_report(context: StepContext, file_name: str, data: bytes) -> ArtifactFile:
    """Keep `data` as the run's artifact `file_name`."""
    target = context.layout.artifact_file(file_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ArtifactFile(file_name, target, len(data), hashlib.sha256(data).hexdigest())


def keep_report(context: StepContext, source: Path, file_name: str) -> ArtifactFile:
    """Copy the workspace file `source` (checked with `workspace_file`) into the artifact
    `file_name`; ReportTooLarge past MAX_REPORT_BYTES."""
    path = workspace_file(context, source.relative_to(context.workspace)
                          if source.is_absolute() else source)
    with open(path, "rb") as handle:
        data = handle.read(MAX_REPORT_BYTES + 1)
    if len(data) > MAX_REPORT_BYTES:
        raise ReportTooLarge(f"{source} is larger than {MAX_REPORT_BYTES // (1024 * 1024)} MiB: "
                             "not kept")
    return write_report(context, file_name, data)


def read_workspace_file(context: StepContext, relative: str | os.PathLike[str],
                        limit: int = MAX_REPORT_BYTES, what: str = "report path") -> bytes:
    """The bytes of the workspace file `relative` (see the module text). PathEscape when it
    leads outside the workspace, is not a regular file, is swapped for a link while it is
    opened, or (with `run_as`) is not the step user's; ReportTooLarge past `limit` bytes;
    OSError (FileNotFoundError, ...) when it cannot be read."""
    path = workspace_file(context, relative, what)
    fd = _open_resolved(path, os.O_RDONLY | os.O_NONBLOCK, what)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise PathEscape(f"{what} {os.fspath(relative)!r} is not a regular file")
        if context.user is not None and status.st_uid != context.user.uid:
            raise PathEscape(f"{what} {os.fspath(relative)!r} is not {context.user.name}'s "
                             "file")
        if status.st_size > limit:
            raise ReportTooLarge(f"{os.fspath(relative)} is larger than {size_text(limit)}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise ReportTooLarge(f"{os.fspath(relative)} is larger than {size_text(limit)}")
    return b"".join(chunks)


def report_files(context: StepContext, directory: str | os.PathLike[str],
                 pattern: str = "*") -> tuple[list[str], int]:
    """Names in the workspace directory `directory` matching `pattern`, sorted, at most
    MAX_REPORT_FILES of them, and how many more there were. FileNotFoundError when it does not
    exist; PathEscape when it leads outside the workspace or is not a directory."""
    path = workspace_file(context, directory)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "no such directory", os.fspath(directory))
    if not path.is_dir():
        raise PathEscape(f"report directory {os.fspath(directory)!r} is not a directory")
    fd = _open_resolved(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with os.scandir(fd) as entries:
            names = sorted(entry.name for entry in entries
                           if fnmatch.fnmatchcase(entry.name, pattern))
    finally:
        os.close(fd)
    return names[:MAX_REPORT_FILES], max(0, len(names) - MAX_REPORT_FILES)


def _open_resolved(path: Path, flags: int, what: str = "report path") -> int:
    """Open the resolved path `path` from / one component at a time, following no link: a
    component swapped for a link since it was resolved fails with PathEscape."""
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    parts = path.parts[1:]
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            how = (flags if last else os.O_RDONLY | os.O_DIRECTORY) | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                step = os.open(part, how, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):   # a link or file swapped in
                    raise PathEscape(f"{what} {str(path)!r} changed while it was opened "
                                     "(a link where a directory or file was)") from None
                raise
            os.close(fd)
            fd = step
        return fd
    except BaseException:
        os.close(fd)
        raise


class ReportArchive:
    """Several report files kept as one tar.gz artifact `file_name`: written next to its place
    and renamed into it when the `with` block ends without an error. `artifact` is then the
    ArtifactFile to return, or None when nothing was added."""

    def __init__(self, context: StepContext, file_name: str) -> None:
        self.file_name = file_name
        self.target = context.layout.artifact_file(file_name)
        self.count = 0
        self.artifact: ArtifactFile | None = None

    def __enter__(self) -> "ReportArchive":
        self.target.parent.mkdir(parents=True, exist_ok=True)
        handle, self._temporary = tempfile.mkstemp(prefix=f".{self.target.name}.",
                                                   dir=self.target.parent)
        self._raw = os.fdopen(handle, "wb")
        self._tar = tarfile.open(fileobj=self._raw, mode="w:gz")
        return self

    def add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
        self._tar.addfile(info, io.BytesIO(data))
        self.count += 1

    def __exit__(self, kind, value, traceback) -> None:
        temporary = Path(self._temporary)
        try:
            self._tar.close()
            self._raw.close()
            if kind is None and self.count:
                data_size = temporary.stat().st_size
                digest = _file_sha256(temporary)
                os.replace(temporary, self.target)
                self.artifact = ArtifactFile(self.file_name, self.target, data_size, digest)
        finally:
            temporary.unlink(missing_ok=True)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def size_text(limit: int) -> str:
    """`64 MiB`, or `100 bytes` below a MiB."""
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"

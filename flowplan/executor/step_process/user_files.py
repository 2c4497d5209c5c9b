"""File work in a task's workspace and its user's home, done as the user steps run as.

With `run_as`, flowplan runs as root and the workspace and the home belong to the step's user,
whose processes may change them while flowplan looks: a directory swapped for a symlink at the
right moment would make root read the store into a cache, or write a restored file anywhere. So
flowplan runs this module's source in a child python as that user (`python -I -S -c SOURCE
COMMAND ARGS...`, see flowplan.executor.step_process.step_user.file_work) and only handles the
archives, at the other end of a pipe or a file descriptor: whatever the child reads or writes, the
user could anyway. The module imports the standard library only, since the user may not be able to
read flowplan's installation, and it runs on any python 3.11.

    pack WORKSPACE PATTERN...          a tar.gz of what the patterns match (see `collect`) on
                                       stdout; stderr's last line is the number of paths
    save WORKSPACE HOME ROOT/PATH...   a tar.gz of those of the paths that exist, named ROOT/PATH
                                       (ROOT: workspace or home), on stdout; exit 3 when none does
    restore WORKSPACE HOME             extract the tar.gz on stdin: `workspace/...` into the
                                       workspace, `home/...` into the home, with tarfile's data
                                       filter (or the same checks where python lacks it)
    unpack WORKSPACE PATH              extract the tar.gz on stdin into PATH (relative to the
                                       workspace, created when missing), with the same filter;
                                       stderr's last line is the number of members
    receive WORKSPACE PATH NAME        write stdin into PATH/NAME (PATH relative to the
                                       workspace, created when missing), replacing NAME

Exit 2 with the reason on stderr: a path refused. `collect` is also
flowplan.steps.archive's when steps run as flowplan's own user. Which files are cached
or archived is the callers'.
"""

from __future__ import annotations

import glob
import os
import sys
import tarfile
from pathlib import Path

REFUSED = 2
NOTHING = 3


class Refused(Exception):
    """A path that leaves its root, or that cannot be used; the message says which."""


def inside(root: Path, relative: str, what: str) -> Path:
    """`root / relative`, resolved; Refused when it is not `root` or below it."""
    text = os.fspath(relative)
    if "\0" in text:
        raise Refused(f"{what} {text!r} holds a NUL byte")
    if Path(text).is_absolute() or text.startswith("~"):
        raise Refused(f"{what} {text!r} must be relative to {root}")
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root / text))
    if target != real_root and real_root not in target.parents:
        raise Refused(f"{what} {text!r} escapes {root}")
    return target


def collect(workspace: Path, patterns: list[str]) -> list[str]:
    """Workspace-relative paths the patterns match, in a stable order; Refused for a pattern or a
    match outside the workspace, or a pattern that matches nothing."""
    found: dict[str, None] = {}
    for pattern in patterns:
        if not pattern or os.path.isabs(pattern) or pattern.startswith("~"):
            raise Refused(f"archive path {pattern!r} must be relative to the workspace")
        if ".." in Path(pattern).parts:
            inside(workspace, os.path.normpath(pattern), "archive path")   # raises if it climbs out
        matches = sorted(glob.glob(pattern, root_dir=workspace, recursive=True,
                                   include_hidden=True))
        if not matches:
            raise Refused(f"archive path {pattern!r} matches nothing in the workspace")
        for match in matches:
            inside(workspace, match, "archive path")
            found[os.path.normpath(match)] = None
    return list(found)


def _checked(member: tarfile.TarInfo, root: Path) -> tarfile.TarInfo | None:
    """What tarfile's data filter lets through, for a python without it; None: skip it."""
    name = member.name.lstrip("/")
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        return None
    inside(root, name, "cache archive member")
    if member.issym():
        target = os.path.join(os.path.dirname(name), member.linkname)
        inside(root, os.path.normpath(target), "cache archive link")
    elif member.islnk():
        inside(root, member.linkname, "cache archive link")
    member.mode = (member.mode | 0o600) & 0o755 if member.isfile() else member.mode & 0o755
    member.uid = member.gid = None
    member.uname = member.gname = None
    return member


def extract(archive, roots: dict[str, Path], label: str = "cache archive") -> None:
    """Extract a tar.gz whose members are ROOT/PATH into `roots[ROOT]`."""
    with tarfile.open(fileobj=archive, mode="r:gz") as tar:
        by_root: dict[str, list[tarfile.TarInfo]] = {}
        for member in tar.getmembers():
            root, _, rest = member.name.partition("/")
            if root not in roots or not rest:
                raise Refused(f"{label} holds {member.name!r}, outside its roots")
            member.name = rest
            by_root.setdefault(root, []).append(member)
        for root, members in by_root.items():
            roots[root].mkdir(parents=True, exist_ok=True)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(roots[root], members=members, filter="data")
            else:
                kept = [m for m in (_checked(m, roots[root]) for m in members) if m is not None]
                tar.extractall(roots[root], members=kept)


def extract_into(archive, target: Path, label: str = "archive") -> int:
    """Extract a plain tar.gz into `target`; the number of members. Every member is checked
    before anything is written: an absolute name, a `..` component, a link leading out of
    `target` or a device refuses the whole archive (Refused)."""
    with tarfile.open(fileobj=archive, mode="r:gz") as tar:
        members = tar.getmembers()
        target.mkdir(parents=True, exist_ok=True)
        check_members(members, target, label)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, members=members, filter="data")
        else:
            tar.extractall(target, members=[m for m in members if _checked(m, target)])
    return len(members)


def check_members(members: list[tarfile.TarInfo], target: Path, label: str = "archive",
                  into: str | None = None) -> None:
    """Refused for the first member that may not be extracted into `target` (a directory): an
    absolute name, a `..` component, a link leading out of it, a device or a pipe. `into` names
    the destination in the message (default: `target`); host_deploy checks an archive this way
    before it extracts it on hosts."""
    for member in members:
        _refuse_leaving(member, target, label, into or str(target))


def _refuse_leaving(member: tarfile.TarInfo, target: Path, label: str, into: str) -> None:
    name = member.name
    if name.startswith("/") or ".." in Path(name).parts or "\0" in name:
        raise Refused(f"{label} holds {name!r}, which may not be extracted into {into}")
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        raise Refused(f"{label} holds {name!r}, a device or pipe")
    try:
        if hasattr(tarfile, "data_filter"):
            tarfile.data_filter(member, str(target))
        else:
            _checked(member, target)
    except (Refused, getattr(tarfile, "FilterError", Refused)) as exc:
        raise Refused(f"{label} holds {name!r}, which may not be extracted into {into}: "
                      f"{exc}") from None


def receive(data, directory: Path, name: str) -> None:
    """Write `data` (a binary stream) into `directory/name`, atomically; Refused for a name that
    is not one plain file name."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise Refused(f"file name {name!r} cannot be used")
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{name}.{os.getpid()}.part"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                block = data.read(1 << 20)
                if not block:
                    break
                out.write(block)
        os.replace(temporary, directory / name)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _pack(workspace: Path, patterns: list[str]) -> int:
    members = collect(workspace, patterns)
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|gz") as tar:
        for member in members:
            tar.add(workspace / member, arcname=member)
    print(len(members), file=sys.stderr)
    return 0


def _save(roots: dict[str, Path], paths: list[str]) -> int:
    members = []
    for path in paths:
        root, _, relative = path.partition("/")
        if root not in roots or not relative:
            raise Refused(f"cache path {path!r} has no root")
        if (roots[root] / relative).exists():
            members.append((root, relative))
    if not members:
        return NOTHING
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|gz") as tar:
        for root, relative in members:
            tar.add(roots[root] / relative, arcname=f"{root}/{relative}")
    return 0


def main(argv: list[str]) -> int:
    command, workspace = argv[1], Path(argv[2])
    try:
        if command == "pack":
            return _pack(workspace, argv[3:])
        if command == "receive":
            receive(sys.stdin.buffer, inside(workspace, argv[3], "path"), argv[4])
            return 0
        if command == "unpack":
            count = extract_into(sys.stdin.buffer, inside(workspace, argv[3], "unpack path"))
            print(count, file=sys.stderr)
            return 0
        roots = {"workspace": workspace, "home": Path(argv[3])}
        if command == "save":
            return _save(roots, argv[4:])
        if command == "restore":
            extract(sys.stdin.buffer, roots)
            return 0
    except Refused as exc:
        print(exc, file=sys.stderr)
        return REFUSED
    print(f"unknown command {command!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

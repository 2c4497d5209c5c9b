"""The `post-receive` hook file of a repository on this machine: where it goes, what flowplan
writes there, and whose a file already there is.

Where: `<repository>/hooks` for a bare repository, `<repository>/.git/hooks` for a working tree
(the main repository's for a linked work tree), or the repository's own `core.hooksPath` when it
sets one (a relative one is taken from the git directory: git runs push hooks there, in a working
tree too). A `core.hooksPath` set only in the user's or the system's git config is left alone: it
is shared by every repository, and a hook flowplan installs belongs to one.

What: a `/bin/sh` script whose second line marks it as flowplan's
(`# flowplan webhook NAME — managed by flowplan apply`) and that execs this Python on
flowplan_providers.git.post_receive with the delivery URL, both shell-quoted. It holds no secret.
Written to a temporary file and renamed, mode 0755. A file without the marker (someone else's
hook) is never overwritten nor removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

MARKER = "# flowplan webhook {name} \u2014 managed by flowplan apply"
_MARKER = re.compile(r"# flowplan webhook (\S+) \u2014 managed by flowplan apply\Z")
_EXEC = re.compile(r"exec (.+) -m flowplan_providers\.git\.post_receive (.+)\Z")
MAX_HOOK = 64 * 1024                      # bytes of an existing hook file read at most


class HookError(Exception):
    """A hook that cannot be placed or read as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Location:
    """Where a repository's post-receive hook is: `git_dir` (absolute, resolved) and `path`."""

    git_dir: Path
    path: Path
    bare: bool


@dataclass(frozen=True)
class Found:
    """What is at a hook path: flowplan's hook for `name` (None: someone else's), the URL it
    posts to (when it can be read), whether it is executable, and the SHA-256 of its content."""

    name: str | None
    url: str | None
    executable: bool
    digest: str


def resolve_repository(repository: str, working_dir: str | Path) -> Path:
    """The repository path: `~` expanded, relative to the config directory."""
    path = Path(repository).expanduser()
    return path if path.is_absolute() else Path(working_dir) / path


def locate(repository: Path) -> Location:
    """Where the post-receive hook of the repository at `repository` goes; HookError when it is
    not a git repository."""
    import git

    if not repository.exists():
        raise HookError(f"{repository} does not exist")
    if not repository.is_dir():
        raise HookError(f"{repository} is not a directory")
    try:
        repo = git.Repo(repository, search_parent_directories=False, expand_vars=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise HookError(f"{repository} is not a git repository (neither bare nor a working "
                        "tree)") from None
    try:
        git_dir = Path(repo.git_dir).resolve()
        bare = repo.bare
        # a linked work tree (`git worktree add`) shares the hooks of its main repository
        hooks = Path(repo.common_dir).resolve() / "hooks"
        with repo.config_reader("repository") as reader:
            configured = reader.get_value("core", "hooksPath", "")
        if configured:
            # git runs push hooks in $GIT_DIR, bare or not: a relative core.hooksPath is
            # taken from there for them (unlike commit hooks, run at the top of a work tree)
            hooks = git_dir / Path(str(configured)).expanduser()
    finally:
        repo.close()
    return Location(git_dir, Path(os.path.normpath(hooks / "post-receive")), bare)


def script(name: str, url: str, python: str | None = None) -> str:
    """The hook file's text for webhook `name` delivering to `url`."""
    interpreter = shlex.quote(python or sys.executable)
    return ("#!/bin/sh\n"
            f"{MARKER.format(name=name)}\n"
            "# Tells flowplan serve which refs were pushed (no secret: the server reads them\n"
            "# again from this repository). Remove the webhook block and apply to remove it.\n"
            f"exec {interpreter} -m flowplan_providers.git.post_receive {shlex.quote(url)}\n")


def digest(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def inspect(path: Path) -> Found | None:
    """What is at `path` (None: nothing). HookError when it cannot be read or is not a file."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise HookError(f"cannot look at {path}: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):
        return Found(None, None, False, "")          # a link, a directory: not flowplan's
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_HOOK + 1)
    except OSError as error:
        raise HookError(f"cannot read {path}: {error.strerror or error}") from None
    executable = bool(info.st_mode & stat.S_IXUSR)
    lines = data[:MAX_HOOK].decode("utf-8", "replace").splitlines()
    marked = _MARKER.match(lines[1]) if len(lines) > 1 else None
    url = None
    for line in lines:
        found = _EXEC.match(line)
        if found:
            words = _words(found.group(2))
            url = words[0] if words and len(words) == 1 else None
    return Found(marked.group(1) if marked else None, url, executable, digest(data))


def install(location: Location, name: str, text: str) -> None:
    """Write the hook (ours or nothing there before), atomically, mode 0755."""
    path = location.path
    found = inspect(path)
    if found is not None and found.name != name:
        raise HookError(foreign(path, found))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".post-receive.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            os.chmod(temporary, 0o755)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as error:
        raise HookError(f"cannot write {path}: {error.strerror or error}") from None


def remove(path: Path, name: str) -> str | None:
    """Remove the hook at `path` when it is flowplan's for `name`; a warning (text) when
    something else is there now and was left alone, None otherwise."""
    found = inspect(path)
    if found is None:
        return None
    if found.name != name:
        return f"{foreign(path, found)}; it was left in place"
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise HookError(f"cannot remove {path}: {error.strerror or error}") from None
    return None


def foreign(path: Path, found: Found) -> str:
    if found.name is not None:
        return (f"{path} is the hook of webhook.{found.name}: a repository has one post-receive "
                "hook, so one webhook block per repository")
    return (f"{path} already exists and is not flowplan's (it lacks the line "
            f"\"{MARKER.format(name='NAME')}\"): flowplan never overwrites another hook; move "
            "it aside, or call it from a hook of your own")


def _words(text: str) -> list[str] | None:
    try:
        return shlex.split(text)
    except ValueError:
        return None


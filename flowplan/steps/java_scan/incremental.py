"""Which files an incremental Java code scan looks at: those changed since the commit of the
last successful scan of the same step in the pipeline.

`changed_files` asks git, through GitPython, for the files added, copied, modified, renamed or
changed in type between that commit and the workspace's HEAD (`git diff-tree -r -M`, plumbing
that runs no diff drivers or text conversions), or says why it cannot: the workspace is not a git
repository, the commit is not in it (a shallow clone), or git failed. Git runs with the
workspace as its one `safe.directory`, so a workspace given to a `run_as` user is still read,
and with `core.fsmonitor` off, so the repository's configuration starts no program. The caller
(step.py) scans everything when it gets a reason instead of files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import git
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

CHANGED = {"A", "C", "M", "R", "T"}
COMMIT_ID = re.compile(r"[0-9a-f]{7,64}")


@dataclass(frozen=True)
class Changes:
    head: str                       # the workspace's HEAD commit
    files: tuple[str, ...]          # changed paths, workspace-relative, posix


def _repository(workspace: Path) -> git.Repo:
    repository = git.Repo(workspace, search_parent_directories=False)
    repository.git.update_environment(
        GIT_CONFIG_COUNT="2",
        GIT_CONFIG_KEY_0="safe.directory", GIT_CONFIG_VALUE_0=str(workspace),
        GIT_CONFIG_KEY_1="core.fsmonitor", GIT_CONFIG_VALUE_1="false",
        GIT_TERMINAL_PROMPT="0")
    return repository


def changed_files(workspace: Path, since: str) -> Changes | str:
    """The files changed between commit `since` and HEAD of the workspace's repository, or the
    reason they cannot be known (a sentence to log)."""
    if not (workspace / ".git").exists():
        return "the workspace is not a git repository"
    try:
        repository = _repository(workspace)
    except (InvalidGitRepositoryError, NoSuchPathError):
        return "the workspace is not a git repository"
    try:
        with repository:
            try:
                head = repository.git.rev_parse("--verify", "HEAD^{commit}").strip()
            except GitCommandError:
                return "the workspace's repository has no HEAD commit"
            if not COMMIT_ID.fullmatch(since):
                return f"{since[:40]!r} is not a commit id"
            try:
                previous = repository.git.rev_parse("--verify", f"{since}^{{commit}}").strip()
            except GitCommandError:
                return (f"commit {since[:12]} is not in the workspace's repository "
                        "(a shallow clone, or history rewritten)")
            diffs = repository.commit(previous).diff(head)
            files = sorted({d.b_path for d in diffs
                            if d.change_type in CHANGED and d.b_path is not None})
            return Changes(head, tuple(files))
    except GitCommandError as exc:
        return f"git failed: {(exc.stderr or str(exc)).strip()[:300]}"


def under(paths: Sequence[str], folder: str) -> list[str]:
    """The `paths` inside workspace-relative `folder` ("" or "." for all)."""
    prefix = PurePosixPath(folder).as_posix() if folder else ""
    if prefix in ("", "."):
        return list(paths)
    return [p for p in paths if p == prefix or p.startswith(prefix + "/")]

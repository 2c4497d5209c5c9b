"""The system user steps run as (`run_as` in the `flowplan {}` block), and the directories and
files that keep it away from flowplan's own.

`step_user(settings, environ)` is that user, or None without `run_as`. It refuses (RunAsRefused,
before a run starts or continues) when flowplan is not root, the user is unknown or is root, the
way to the workspaces is closed to it, or the key file is its own. With a user:

- a step's processes run as it (flowplan.executor.process.run_process, through
  setpriv), with no supplementary groups, and HOME, USER and LOGNAME its own;
- directories on the way to a task directory are 0711, passable but not listable: `.flowplan`,
  the workspace directory, a pipeline's, a run's, a stage's (`prepare_run_directories`,
  `make_workspace`); the task directory is the user's, 0700 (`give`); a run's directory is closed
  (0700) when its drive ends (`close_run_directory`), so a step reaches no other run's workspace;
- the run's checkout (`.source`), the artifacts and caches directories are 0700 and flowplan's;
  the store and the state are 0600 (flowplan.store.database, flowplan.state.local);
- the scratch directory of a task (`private_dir`) is flowplan's, 0711, holding a
  `$FLOWPLAN_OUTPUT` file the user owns (`output_file`): the user cannot swap it for a symlink;
- flowplan's own file work in the workspace and the home (archive steps, caches) is done by a
  child process as the user (`file_work`, running flowplan.executor.step_process.user_files).

Without `run_as` the same directory modes apply; steps run as flowplan's user and can reach all
it can (see docs/architecture.md, "Trust boundaries"). Starting processes is process.py's; where
files go, layout.py's.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from flowplan.executor.errors import RunServiceError
from flowplan.executor.process import as_user
from flowplan.executor.secrets import KEY_FILE_VARIABLE
from flowplan.executor.settings import ExecutorSettings

PASSAGE_MODE = 0o711        # passable, not listable
PRIVATE_MODE = 0o700
FLOWPLAN_DIR = ".flowplan"


class RunAsRefused(RunServiceError):
    """`run_as` cannot be honoured; nothing was run."""


class FileWorkFailed(Exception):
    """The child doing file work as the step's user failed; the message says why."""


@dataclass(frozen=True)
class StepUser:
    name: str
    uid: int
    gid: int
    home: Path

    def environment(self) -> dict[str, str]:
        """What a step's environment says about who it runs as."""
        return {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name}


def _refused(settings: ExecutorSettings, reason: str) -> RunAsRefused:
    return RunAsRefused(f'run_as = "{settings.run_as}": {reason}')


def step_user(settings: ExecutorSettings,
              environ: Mapping[str, str] | None = None) -> StepUser | None:
    """The user steps run as, or None; RunAsRefused when it cannot be."""
    if not settings.run_as:
        return None
    if os.geteuid() != 0:
        try:
            me = pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:
            me = f"uid {os.geteuid()}"
        raise _refused(settings, f"steps can only run as another user when flowplan runs as "
                                 f"root, and it runs as {me}: run flowplan as root, or remove "
                                 f"run_as from the flowplan {{}} block")
    try:
        entry = pwd.getpwnam(settings.run_as)
    except KeyError:
        raise _refused(settings, f"there is no user {settings.run_as!r} on this machine: create "
                                 f"it (e.g. `useradd --create-home {settings.run_as}`), or fix "
                                 f"the name") from None
    if entry.pw_uid == 0:
        raise _refused(settings, "that user is root, and steps would reach all flowplan can: "
                                 "name an unprivileged user")
    user = StepUser(entry.pw_name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))
    top = _passage_top(settings)
    for directory in reversed(top.parents):
        if not _may(user, directory, stat.S_IXUSR):
            raise _refused(settings, f"{user.name} cannot pass through {directory} on the way to "
                                     f"the workspaces ({settings.workspace_dir}): let it "
                                     f"(`chmod o+x {directory}`), or set workspace_dir elsewhere")
    environ = os.environ if environ is None else environ
    key_file = environ.get(KEY_FILE_VARIABLE)
    if key_file:
        try:
            owner = os.stat(key_file).st_uid
        except OSError:
            owner = None
        if owner == user.uid:
            raise _refused(settings, f"the key file {key_file} ({KEY_FILE_VARIABLE}) belongs to "
                                     f"{user.name}, whom steps run as: give it to flowplan's "
                                     f"user (`chown root {key_file}`)")
    return user


def _may(user: StepUser, path: Path, owner_bit: int) -> bool:
    """Whether `user` (primary group only) has the permission `owner_bit` names on `path`
    (S_IXUSR: search or execute; S_IRUSR: read). ACLs are not looked at."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    if info.st_uid == user.uid:
        return bool(info.st_mode & owner_bit)
    if info.st_gid == user.gid:
        return bool(info.st_mode & (owner_bit >> 3))
    return bool(info.st_mode & (owner_bit >> 6))


# -- directories ------------------------------------------------------------------------------


def _passage_top(settings: ExecutorSettings) -> Path:
    """The highest directory on the way to the workspaces that flowplan makes 0711: `.flowplan`
    when the workspaces are in it, else the highest of the workspace directory's that does not
    exist yet (or the workspace directory itself)."""
    workspaces = settings.workspace_dir
    flowplan_dir = settings.base_dir / FLOWPLAN_DIR
    if workspaces == flowplan_dir or flowplan_dir in workspaces.parents:
        return flowplan_dir
    top = workspaces
    for parent in workspaces.parents:
        if parent.exists():
            break
        top = parent
    return top


def _passage(top: Path, bottom: Path) -> list[Path]:
    """`top`, `bottom` and the directories between them, top first."""
    between = [bottom, *(p for p in bottom.parents if top in p.parents)]
    return [top, *reversed(between)] if bottom != top else [top]


def _make(directory: Path, mode: int) -> None:
    """`directory` exists with `mode` (when it is flowplan's to set)."""
    try:
        directory.mkdir(mode=mode)
    except FileExistsError:
        pass
    info = directory.stat()
    if stat.S_IMODE(info.st_mode) != mode and info.st_uid == os.geteuid():
        os.chmod(directory, mode)


def prepare_run_directories(settings: ExecutorSettings, run_dir: Path,
                            user: StepUser | None) -> None:
    """The way to a run's directory, 0711 down to the run's; the artifacts and caches
    directories, 0700 (existing ones are closed too when steps run as another user, and so is
    the parse cache, `.flowplan/cache`)."""
    for directory in _passage(_passage_top(settings), run_dir):
        if not directory.parent.exists():
            directory.parent.mkdir(parents=True, exist_ok=True)
        _make(directory, PASSAGE_MODE)
    for directory in (settings.artifacts_dir, settings.cache_dir):
        if not directory.exists():
            directory.parent.mkdir(parents=True, exist_ok=True)
            _make(directory, PRIVATE_MODE)
        elif user is not None:
            _make(directory, PRIVATE_MODE)
    parse_cache = settings.base_dir / FLOWPLAN_DIR / "cache"
    if user is not None and parse_cache.is_dir():
        _make(parse_cache, PRIVATE_MODE)


def make_workspace(workspace: Path) -> None:
    """A new, empty task directory (flowplan's, 0700, until `give`) in its stage's (0711)."""
    _make(workspace.parent, PASSAGE_MODE)
    workspace.mkdir(mode=PRIVATE_MODE)


def give(tree: Path, user: StepUser) -> None:
    """Make `tree` (a new task directory, flowplan's and closed until now) the user's.

    Bottom up, symlinks not followed: a directory becomes the user's only after everything in
    it, and the ones above it stay flowplan's, so the user cannot move anything under a path
    still to be changed."""
    for directory, directories, files in os.walk(tree, topdown=False):
        for name in (*files, *directories):
            os.chown(os.path.join(directory, name), user.uid, user.gid, follow_symlinks=False)
    os.chown(tree, user.uid, user.gid)
    os.chmod(tree, PRIVATE_MODE)


def close_run_directory(run_dir: Path) -> None:
    """Nobody but flowplan passes through a run's directory while no drive runs it."""
    if run_dir.is_dir():
        os.chmod(run_dir, PRIVATE_MODE)


def close_source(source_dir: Path) -> None:
    """The run's checkout is flowplan's: tasks get copies."""
    if source_dir.is_dir():
        os.chmod(source_dir, PRIVATE_MODE)


def private_dir(user: StepUser | None) -> Path:
    """A task's scratch directory, outside `.flowplan`: flowplan's, and passable by the user."""
    path = Path(tempfile.mkdtemp(prefix="flowplan-task-"))
    if user is not None:
        os.chmod(path, PASSAGE_MODE)
    return path


def output_file(path: Path, user: StepUser) -> None:
    """An empty `$FLOWPLAN_OUTPUT` in the (flowplan's) scratch directory that only the user may
    write: it cannot be replaced by a link to something flowplan would then read."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchown(fd, user.uid, user.gid)
    finally:
        os.close(fd)


def write_file(path: Path, text: str, user: StepUser | None) -> None:
    """`text` into a new file in the scratch directory, readable by the user steps run as."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        if user is not None:
            os.fchown(handle.fileno(), user.uid, user.gid)
        handle.write(text)


# -- file work as the user --------------------------------------------------------------------


@lru_cache(maxsize=1)
def _user_files_source() -> str:
    from flowplan.executor.step_process import user_files

    return Path(user_files.__file__).read_text(encoding="utf-8")


def _python_for(user: StepUser) -> str:
    """A python the user may run: flowplan's own, else the system's python3."""
    candidates = [os.path.realpath(sys.executable),
                  os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable)]
    system = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if system:
        candidates.append(os.path.realpath(system))
    for candidate in dict.fromkeys(candidates):
        path = Path(candidate)
        if _may(user, path, stat.S_IXUSR) and all(_may(user, p, stat.S_IXUSR)
                                                  for p in path.parents):
            return candidate
    raise FileWorkFailed(f"{user.name} may not run any python here (flowplan's is "
                         f"{candidates[0]}): install python3 (3.11 or later) where "
                         f"{user.name} can run it")


def file_work(user: StepUser, command: str, arguments: list[str], *, cwd: Path,
              stdin: IO[Any] | None = None, stdout: IO[Any] | None = None) -> tuple[int, str]:
    """Run flowplan.executor.step_process.user_files' `command` as `user`: (exit code, stderr
    text)."""
    argv, identity = as_user([_python_for(user), "-I", "-S", "-c", _user_files_source(), command,
                              *arguments], user)
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8",
                   "HOME": str(user.home)}
    try:
        process = subprocess.run(argv, cwd=cwd, env=environment,
                                 stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                 stdout=stdout if stdout is not None else subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, close_fds=True, **identity)
    except OSError as exc:
        raise FileWorkFailed(f"cannot start python as {user.name}: {exc.strerror}") from None
    return process.returncode, process.stderr.decode("utf-8", "replace").strip()

"""LocalTransport: `connection = "local"`, this machine itself, reached without SSH (as Ansible's
`connection: local`).

An upload is a copy: written to a temporary name beside the destination, its SHA-256 read back
and compared, then renamed into place; a relative destination is relative to the home of the
user flowplan runs as (`$HOME` when set). A command runs as `bash -c` in a process group of its
own, from the running user's home, with a login-like environment (PATH, HOME, USER, LOGNAME,
SHELL, LANG) plus the deploy's variables, never flowplan's own environment (which may hold the
store's key). Another user than the one flowplan runs as is reached through `setpriv` when
flowplan is root, else through `sudo -n -u USER`, and refused when neither can. Timeouts and
cancel stop the whole process group (SIGTERM, then SIGKILL after a grace period), through
flowplan.executor.process.run_process.

`probe` has nothing to connect to: the machine is reachable, has no host key, and the user
exists when the password database says so.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from .inputs import checked_environment, checked_user, file_sha256, remote_path
from .transport import (CommandCanceled, CommandTimedOut, OnOutput, Probe, Target,
                        TransportError)

GRACE_SECONDS = 5.0
LOGIN_VARIABLES = ("PATH", "LANG", "LC_ALL", "TZ")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


def current_user() -> str:
    """The name of the user flowplan runs as (its uid's number when it has no name)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


class LocalTransport:
    """Deploys to this machine. Stateless: every session works on its own."""

    def __init__(self, grace: float = GRACE_SECONDS):
        self.grace = grace

    def connect(self, target: Target) -> LocalSession:
        user = target.user or current_user()
        checked_user(user, target.name)
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise TransportError(f"{target.name} (this machine): user {user!r} does not "
                                 "exist") from None
        return LocalSession(target, user, self.grace)

    def probe(self, target: Target) -> Probe:
        user = target.user or current_user()
        try:
            checked_user(user, target.name)
            pwd.getpwnam(user)
        except (TransportError, KeyError):
            return Probe(reachable=True, host_key=None, user_exists=False,
                         problem=f"user {user!r} does not exist on this machine")
        return Probe(reachable=True, host_key=None, user_exists=True)

    def close(self) -> None:
        """Nothing to release; here so that callers treat every transport alike."""


class LocalSession:
    def __init__(self, target: Target, user: str, grace: float):
        self.target = target
        self.user = user
        self.grace = grace
        self._sudo_checked: set[str] = set()

    # -- upload ----------------------------------------------------------------------------------

    def upload(self, local: Path, remote: str, sha256: str) -> str:
        host = self.target.name
        path = remote_path(remote, host)
        destination = Path(path) if path.startswith("/") else _home() / path
        temporary = destination.parent / f".{destination.name}.flowplan-{secrets.token_hex(6)}"
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            with open(local, "rb") as source, open(temporary, "xb") as copy:
                shutil.copyfileobj(source, copy, 1 << 20)
            written = file_sha256(temporary)
            if written != sha256:
                raise TransportError(f"{host}: checksum mismatch for {destination}: expected "
                                     f"sha256 {sha256}, the copy has {written}")
            os.replace(temporary, destination)
        except OSError as error:
            raise TransportError(f"{host}: cannot write {destination}: "
                                 f"{error.strerror or error}") from None
        finally:
            try:
                temporary.unlink(missing_ok=True)
            except OSError:
                pass                     # its directory could not be made: nothing to remove
        return str(destination)

    # -- run -------------------------------------------------------------------------------------

    def run(self, command: str, *, env: Mapping[str, str], on_output: OnOutput,
            timeout: float | None, cancel: threading.Event, user: str | None = None) -> int:
        from flowplan.executor.process import run_process

        host = self.target.name
        variables = checked_environment({**self.target.vars, **env}, host)
        as_user = checked_user(user, host) if user else self.user
        try:
            account = pwd.getpwnam(as_user)
        except KeyError:
            raise TransportError(f"{host} (this machine): user {as_user!r} does not "
                                 "exist") from None
        environment = _login_environment(account)
        environment.update(variables)
        argv: list[str] = ["bash", "-c", command]
        step_user = None
        if account.pw_uid != os.geteuid():
            if os.geteuid() == 0:
                from flowplan.executor.step_process.step_user import StepUser

                step_user = StepUser(account.pw_name, account.pw_uid, account.pw_gid,
                                     Path(account.pw_dir))
            else:
                self._check_sudo(as_user)
                names = ",".join(sorted(variables))
                argv = ["sudo", "-n", "-H", "-u", as_user,
                        *([f"--preserve-env={names}"] if names else []), "--", *argv]
        home = Path(account.pw_dir)
        cwd = home if home.is_dir() else Path("/")
        deadline = time.monotonic() + timeout if timeout is not None else None
        try:
            result = run_process(argv, cwd=cwd, env=environment,
                                 on_output=lambda stream, data, _at: on_output(stream, data),
                                 deadline=deadline, cancel=cancel, grace=self.grace,
                                 user=step_user)
        except OSError as error:
            raise TransportError(f"{host} (this machine): cannot start bash: "
                                 f"{error.strerror or error}") from None
        if result.canceled:
            raise CommandCanceled(f"{host}: the command was canceled and stopped")
        if result.timed_out:
            raise CommandTimedOut(f"{host}: the command did not finish within {timeout:g} s "
                                  "and was stopped")
        if result.exit_code is None:
            return 128 + (result.signal or 0)
        return result.exit_code

    def _check_sudo(self, user: str) -> None:
        if user in self._sudo_checked:
            return
        host = self.target.name
        me = current_user()
        if shutil.which("sudo") is None:
            raise TransportError(f"{host} (this machine): cannot run as {user}: flowplan runs "
                                 f"as {me}, not root, and sudo is not installed")
        checked = subprocess.run(["sudo", "-n", "-u", user, "--", "true"], capture_output=True,
                                 text=True, stdin=subprocess.DEVNULL)
        if checked.returncode != 0:
            reason = checked.stderr.strip().splitlines()[-1:] or ["refused"]
            raise TransportError(f"{host} (this machine): cannot run as {user}: "
                                 f"`sudo -n -u {user}` refused ({reason[0]})")
        self._sudo_checked.add(user)

    def close(self) -> None:
        """Nothing to release."""


def _home() -> Path:
    home = os.environ.get("HOME")
    if home:
        return Path(home)
    try:
        return Path(pwd.getpwuid(os.geteuid()).pw_dir)
    except KeyError:
        raise TransportError("this machine: flowplan's user has no home directory; give a "
                             "path starting with /") from None


def _login_environment(account: pwd.struct_passwd) -> dict[str, str]:
    environment = {name: os.environ[name] for name in LOGIN_VARIABLES if name in os.environ}
    environment.setdefault("PATH", DEFAULT_PATH)
    environment.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name,
                       SHELL=account.pw_shell or "/bin/sh")
    return environment


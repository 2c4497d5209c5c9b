"""The shell text SshTransport sends to a host: a deploy command wrapped so that it can be stopped,
the signals that stop it, the checksum and the probe.

A command runs as `bash -c SCRIPT`, where SCRIPT exports the deploy's variables (names checked by
flowplan_providers.flowplan.deploy.inputs, values shell-quoted) and then holds the command as
given. The login shell first prints `flowplan-pid:<its pid>` on stdout, then `exec`s into bash:
sshd starts every session in a session (and process group) of its own led by that shell, so the
pid is the process group of everything the command starts, and `kill -- -PID` stops it all.
Another user than the login user is reached through `sudo -n -H -u USER` (never a password
prompt); the processes are then USER's, so they are signalled through the same sudo.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

PID_MARKER = b"flowplan-pid:"

# What `probe` runs after logging in: who it is, and that what the transport needs is there.
PROBE = ("id -un; for tool in bash sha256sum; do command -v \"$tool\" >/dev/null 2>&1 "
         "|| echo \"missing:$tool\"; done")


def script(command: str, env: Mapping[str, str]) -> str:
    """The bash script: exports, then the command."""
    exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())
    return exports + command


def wrapped(command: str, env: Mapping[str, str], run_as: str | None) -> str:
    """What the login shell runs for `Session.run`."""
    body = script(command, env)
    if run_as is None:
        tail = f"exec bash -c {shlex.quote(body)}"
    else:
        # sudo -H sets HOME to USER's; the command starts there, as it would on a login.
        tail = (f"exec sudo -n -H -u {shlex.quote(run_as)} -- bash -c "
                f"{shlex.quote('cd 2>/dev/null || cd /; ' + body)}")
    return f"printf '{PID_MARKER.decode()}%s\\n' \"$$\"; {tail}"


def signal_group(pgid: int, signal: str, run_as: str | None) -> str:
    """Signal the process group `pgid` (as the login user, and as `run_as` through sudo)."""
    own = f"kill -{signal} -- -{int(pgid)} 2>/dev/null"
    if run_as is None:
        return f"{own}; true"
    return (f"sudo -n -u {shlex.quote(run_as)} -- kill -{signal} -- -{int(pgid)} 2>/dev/null; "
            f"{own}; true")


def sudo_check(run_as: str) -> str:
    return f"sudo -n -u {shlex.quote(run_as)} -- true"


def checksum(path: str) -> str:
    return f"sha256sum -- {shlex.quote(path)}"

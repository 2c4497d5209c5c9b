"""What a deploy hands a transport, checked the same way by every transport before it touches a
host: remote paths (`remote_path`), environment variables (`checked_environment`), user names
(`checked_user`), and the SHA-256 of a local file (`file_sha256`).

A refusal is a TransportError naming the host and what is wrong with the value; the value itself
is quoted only when it cannot be a secret (a path, a variable's name, a user name).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path

from .transport import TransportError

ENVIRONMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?\Z")
MAX_PATH = 4096


def remote_path(remote: str, host: str) -> str:
    """`remote` as a transport uses it: absolute, or relative to the login user's home (a leading
    `~/` means the same). Refuses an empty path, NUL, a `..` component and a path ending in `/`
    (it must name a file); `.` components and repeated slashes are dropped."""
    if type(remote) is not str or not remote:
        raise TransportError(f"{host}: the remote path is empty")
    if "\x00" in remote:
        raise TransportError(f"{host}: the remote path {remote!r} holds a NUL character")
    if len(remote) > MAX_PATH:
        raise TransportError(f"{host}: the remote path is longer than {MAX_PATH} characters")
    if remote.endswith("/") or remote in ("~", "."):
        raise TransportError(f"{host}: the remote path {remote!r} names a directory, not a file")
    relative = remote[2:] if remote.startswith("~/") else remote
    if relative.startswith("~"):
        raise TransportError(f"{host}: the remote path {remote!r} names another user's home; "
                             "write it as an absolute path")
    parts = relative.split("/")
    if ".." in parts:
        raise TransportError(f"{host}: the remote path {remote!r} climbs out with `..`; give "
                             "it without `..` components")
    kept = [part for part in parts if part not in ("", ".")]
    if not kept:
        raise TransportError(f"{host}: the remote path {remote!r} names no file")
    joined = "/".join(kept)
    return "/" + joined if relative.startswith("/") else joined


def checked_environment(env: Mapping[str, str], host: str) -> dict[str, str]:
    """`env` as a plain dict, once every name is a shell variable name and every value a string
    without NUL (which no environment can hold)."""
    checked: dict[str, str] = {}
    for name, value in env.items():
        if type(name) is not str or not ENVIRONMENT_NAME.match(name):
            raise TransportError(f"{host}: {name!r} is not a valid environment variable name "
                                 "(letters, digits and _, not starting with a digit)")
        if type(value) is not str:
            raise TransportError(f"{host}: the value of {name} is not a string")
        if "\x00" in value:
            raise TransportError(f"{host}: the value of {name} holds a NUL character")
        checked[name] = value
    return checked


def checked_user(user: str, host: str) -> str:
    """A user name fit to hand to sudo or a login: no spaces, quotes, slashes or leading `-`."""
    if type(user) is not str or not USER_NAME.match(user) or len(user) > 64:
        raise TransportError(f"{host}: {user!r} is not a valid user name")
    return user


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a local file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def parent_of(path: str) -> str:
    """The directory part of a checked remote path ("" for a bare name)."""
    return posixpath.dirname(path)

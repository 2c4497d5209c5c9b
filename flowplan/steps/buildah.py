"""Building and pushing container images with buildah (the Debian package `buildah`; no Docker
engine): the command lines, and the auth file a push reads its credentials from.

`bud_argv` builds with `--isolation chroot` (RUN instructions work without a container runtime
daemon) and `--layers` (unchanged steps come from the cache of earlier builds), labels the image
and tags it with every tag at once. `push_argv` pushes one tag and has buildah write the digest
the registry answered into a file. Credentials never go on a command line: `AuthFile` writes
them into a 0600 file in the step's private directory (readable by the step's user only) that
buildah reads with `--authfile`, and removes it when the `with` block ends. Where the image
store lives is buildah's own configuration (CONTAINERS_STORAGE_CONF in the step's environment).
Running the commands is flowplan.steps.running's; what to push where is image_build's.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flowplan.executor.step_process import step_user

BUILDAH = "buildah"
PACKAGE = "buildah"


class BuildahMissing(Exception):
    """buildah is not on the step's PATH; the text names the package to install."""


def find_buildah(environment: Mapping[str, str]) -> str:
    """The buildah the step's PATH finds; BuildahMissing otherwise."""
    path = environment.get("PATH", os.defpath)
    found = shutil.which(BUILDAH, path=path)
    if found is None:
        shown = path if len(path) <= 200 else path[:200] + "..."
        raise BuildahMissing(f"buildah is not on the step's PATH ({shown}): image_build builds "
                             f"with buildah, install the Debian package {PACKAGE} "
                             f"(apt-get install {PACKAGE}); no Docker engine is needed")
    return found


@dataclass(frozen=True)
class Build:
    """What one `buildah bud` makes."""

    dockerfile: Path
    context: Path
    names: Sequence[str]                           # every NAME:TAG to tag the image with
    labels: Mapping[str, str] = field(default_factory=dict)
    build_args: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    platform: str | None = None
    image_id_file: Path | None = None


def bud_argv(buildah: str, build: Build) -> list[str]:
    argv = [buildah, "bud", "--isolation", "chroot", "--layers", "--file", str(build.dockerfile)]
    if build.no_cache:
        argv.append("--no-cache")
    if build.platform:
        argv += ["--platform", build.platform]
    for name, value in build.build_args.items():
        argv += ["--build-arg", f"{name}={value}"]
    for name, value in build.labels.items():
        argv += ["--label", f"{name}={value}"]
    if build.image_id_file is not None:
        argv += ["--iidfile", str(build.image_id_file)]
    for name in build.names:
        argv += ["--tag", name]
    argv.append(str(build.context))
    return argv


def push_argv(buildah: str, name: str, *, digest_file: Path, auth_file: Path | None,
              insecure: bool) -> list[str]:
    """Push the local image `name` (NAME:TAG) to the same name in its registry."""
    argv = [buildah, "push", "--digestfile", str(digest_file)]
    if auth_file is not None:
        argv += ["--authfile", str(auth_file)]
    if insecure:
        argv.append("--tls-verify=false")
    argv += [name, f"docker://{name}"]
    return argv


class AuthFile:
    """A containers-auth.json with one registry's credentials, in `directory`, for the `with`
    block only: `path` is None when there are no credentials (anonymous pushes)."""

    def __init__(self, directory: Path, name: str, host: str, username: str | None,
                 password: str | None, user: object = None) -> None:
        self.path: Path | None = None
        self._target = directory / name
        self._host = host
        self._credentials = (username, password) if username else None
        self._user = user

    def __enter__(self) -> "AuthFile":
        if self._credentials is not None:
            username, password = self._credentials
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            step_user.write_file(self._target,
                                 json.dumps({"auths": {self._host: {"auth": token}}}),
                                 self._user)
            self.path = self._target
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None

    def __repr__(self) -> str:
        return f"AuthFile({self._host}, {'with' if self._credentials else 'no'} credentials)"

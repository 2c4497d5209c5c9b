"""One host's part of a `host_deploy`: `Rollout.run` connects (one session for the whole of it),
prepares the release directory, uploads the artifact unless the release already holds it,
extracts it, runs the script, runs the health check, switches `current` and prunes old
releases, all within the host's deadline; it never raises, and returns a `HostOutcome`.

The execute user (`user`, else the host's login user) does everything on the host but the
upload, which is the transport's own (the login user over SSH and Cloud Assistant, flowplan's user
for a local host): when the two differ the file goes through a staging directory
(flowplan_providers.flowplan.deploy.release has the shell text).

`HostLog` puts each line a host prints into the step log as `[HOST] line`, from many threads at
once. Batches, records and the step's result are the step's
(flowplan_providers.flowplan.deploy.step).
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import release as shell
from .local import current_user
from .transport import (CommandCanceled, CommandTimedOut, HostKeyChanged, Session, Target,
                        Transport, TransportError)

TAR_SUFFIXES = (".tgz", ".tar.gz", ".tar")


class HostLog:
    """The step log shared by the hosts of a deploy: whole lines, each prefixed `[HOST] `.

    StepLog.feed keeps one partial line per stream, so the hosts' bytes are cut into lines here,
    per host, and handed over whole under one lock."""

    def __init__(self, log: Any):
        self.log = log
        self._lock = threading.Lock()
        self._partial: dict[tuple[str, str], bytes] = {}

    def say(self, text: str, host: str | None = None) -> None:
        prefix = f"[{host}] " if host else ""
        with self._lock:
            self.log.say("\n".join(prefix + line for line in text.splitlines() or [""]),
                         time.time())

    def output(self, host: str, stream: str, data: bytes) -> None:
        key = (host, stream)
        with self._lock:
            buffer = self._partial.pop(key, b"") + data
            cut = buffer.rfind(b"\n")
            if cut < 0:
                self._partial[key] = buffer
                return
            if buffer[cut + 1:]:
                self._partial[key] = buffer[cut + 1:]
            self._feed(host, stream, buffer[:cut])

    def flush(self, host: str) -> None:
        with self._lock:
            for key in [k for k in self._partial if k[0] == host]:
                self._feed(host, key[1], self._partial.pop(key))

    def _feed(self, host: str, stream: str, lines: bytes) -> None:
        prefix = f"[{host}] ".encode("utf-8", "replace")
        text = b"\n".join(prefix + line for line in lines.split(b"\n"))
        self.log.feed(stream if stream in ("stdout", "stderr") else "stdout", text + b"\n",
                      time.time())


@dataclass(frozen=True)
class Release:
    """What every host of the deploy gets."""

    group: str                       # the deployment group's name
    artifact_path: Path
    artifact_file: str               # the file's name on the hosts
    sha256: str
    size: int
    download_path: str
    user: str | None                 # the execute user; None: each host's login user
    script: str
    environment: Mapping[str, str]   # the run's remote environment and the step's env
    health_check: str | None
    health_check_timeout: int        # seconds
    keep_releases: int
    timeout: int                     # seconds per host

    @property
    def name(self) -> str:
        """The release directory's name: the first 12 hex digits of the artifact's SHA-256."""
        return self.sha256[:12]

    @property
    def is_archive(self) -> bool:
        return self.artifact_file.endswith(TAR_SUFFIXES)


@dataclass(frozen=True)
class HostOutcome:
    host: str
    status: str                      # succeeded, failed, timed_out or canceled
    exit_code: int | None = None
    error: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


class _Failed(Exception):
    """A step on the host failed: the message (naming the host) and the script's exit code."""

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.exit_code = exit_code


def address_of(target: Target) -> str:
    if target.connection == "local":
        return "local"
    if target.connection == "ecs":
        return f"{target.instance_id} ({target.region})" if target.region else \
            str(target.instance_id)
    return f"{target.address}:{target.port}"


class Rollout:
    def __init__(self, release: Release, target: Target, batch: int, transport: Transport,
                 log: HostLog, cancel: threading.Event, step_deadline: float | None,
                 detail: Mapping[str, Any]):
        self.release = release
        self.target = target
        self.batch = batch
        self.transport = transport
        self.log = log
        self.cancel = cancel
        self.step_deadline = step_deadline
        self.detail: dict[str, Any] = dict(detail)
        self.deadline = 0.0
        self.session: Session | None = None

    @property
    def host(self) -> str:
        return self.target.name

    # -- the host -------------------------------------------------------------------------------

    def run(self) -> HostOutcome:
        started = time.monotonic()
        self.deadline = started + self.release.timeout
        if self.step_deadline is not None:
            self.deadline = min(self.deadline, self.step_deadline)
        try:
            self._deploy()
        except _Failed as failure:
            return self._ended("failed", str(failure), failure.exit_code, started)
        except HostKeyChanged as changed:
            return self._ended("failed", self._key_changed(changed), None, started)
        except TransportError as error:
            return self._ended("failed", str(error), None, started)
        except Exception as error:  # noqa: BLE001 - a bug fails this host, not the others
            return self._ended("failed", f"{self.host}: {type(error).__name__}: {error}", None,
                               started)
        finally:
            self.log.flush(self.host)
            if self.session is not None:
                try:
                    self.session.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
        self.log.say(f"deployed in {time.monotonic() - started:.1f} s", self.host)
        return HostOutcome(self.host, "succeeded", 0, None, self.detail)

    def _ended(self, status: str, error: str, exit_code: int | None,
               started: float) -> HostOutcome:
        if self.cancel.is_set():
            status, error = "canceled", f"{self.host}: canceled"
        elif time.monotonic() >= self.deadline:
            status = "timed_out"
            error = f"{self.host}: did not finish within {self._limit()}"
        self.log.say(f"{status.replace('_', ' ')}: {error}", self.host)
        return HostOutcome(self.host, status, exit_code, error, self.detail)

    def _limit(self) -> str:
        if self.step_deadline is not None and self.deadline == self.step_deadline:
            return "the step's time"
        return f"its timeout of {self.release.timeout} s"

    def _key_changed(self, changed: HostKeyChanged) -> str:
        return (f"{self.host} ({address_of(self.target)}): host key changed: pinned "
                f"{changed.expected or 'none'}, presented {changed.presented or 'none'}; "
                f"flowplan refuses the host until the new key is checked and pinned with "
                f"`flowplan apply --replace deployment_group.{self.release.group}`")

    def _deploy(self) -> None:
        release = self.release
        self._check_time()
        self.session = self.transport.connect(self.target)
        prepared = self._prepare()
        base, directory = prepared["base"], prepared["release"]
        self.detail["release"] = directory
        destination = f"{directory}/{release.artifact_file}"
        if prepared.get("present") == "yes":
            self.detail["upload"] = "skipped"
            self.log.say(f"{release.artifact_file} is already in {directory} (same sha256): "
                         "upload skipped", self.host)
        else:
            self._upload(destination)
            self.detail["upload"] = "done"
            self.log.say(f"uploaded {release.artifact_file} ({release.size} bytes, sha256 "
                         f"checked) to {directory}", self.host)
        if release.is_archive:
            code, output = self._command(shell.extract(directory, destination))
            if code != 0:
                raise _Failed(f"{self.host}: cannot extract {release.artifact_file} into "
                              f"{directory}: {_last_line(output) or f'tar exited with {code}'}")
        code = self._stream(shell.script(directory, release.script),
                            self._script_environment(directory, destination))
        if code != 0:
            raise _Failed(f"{self.host}: the script exited with {code}", code)
        if release.health_check:
            environment = self._script_environment(directory, destination)
            code = self._stream(shell.health_check(directory, self._health_check(environment),
                                                   release.health_check_timeout), environment)
            if code != 0:
                raise _Failed(f"{self.host}: the health check ({release.health_check}) did not "
                              f"pass within {release.health_check_timeout} s")
        code = self._stream(shell.activate(base, directory, release.keep_releases), {})
        if code != 0:
            raise _Failed(f"{self.host}: cannot point {base}/current at {directory}")

    def _prepare(self) -> dict[str, str]:
        release = self.release
        code, output = self._command(shell.prepare(release.download_path, release.name,
                                                   release.artifact_file, release.sha256))
        found = shell.answers(output)
        if "error" in found:
            raise _Failed(f"{self.host}: {found['error']} (download_path "
                          f"{release.download_path!r}, user {self._user()})")
        if code != 0 or "release" not in found or "base" not in found:
            raise _Failed(f"{self.host}: cannot prepare the release directory under "
                          f"{release.download_path!r} as {self._user()}: "
                          f"{_last_line(output) or f'exit code {code}'}")
        return found

    def _upload(self, destination: str) -> None:
        release = self.release
        if self._user() == self._uploader():
            self._check_time()
            self.session.upload(release.artifact_path, destination, release.sha256)
            self._check_time()
            return
        code, output = self._command(shell.staging(), user=self._uploader_run_as())
        staged_dir = shell.answers(output).get("staging")
        if code != 0 or not staged_dir:
            raise _Failed(f"{self.host}: cannot make a staging directory for the upload: "
                          f"{_last_line(output) or f'exit code {code}'}")
        try:
            staged = f"{staged_dir}/{secrets.token_hex(16)}"
            self._check_time()
            self.session.upload(release.artifact_path, staged, release.sha256)
            self._check_time()
            code, output = self._command(shell.readable(staged), user=self._uploader_run_as())
            if code == 0:
                code, output = self._command(shell.place_staged(staged, destination,
                                                                release.sha256))
            if code != 0:
                raise _Failed(f"{self.host}: cannot copy the upload into {destination} as "
                              f"{self._user()}: {_last_line(output) or f'exit code {code}'}")
        finally:
            try:
                self._command(shell.unstage(staged_dir), user=self._uploader_run_as())
            except TransportError:
                pass

    # -- users ----------------------------------------------------------------------------------

    def _user(self) -> str:
        """Who runs the deploy's commands on the host."""
        return self.release.user or self.target.user

    def _uploader(self) -> str:
        """Who the transport's upload writes as."""
        return current_user() if self.target.connection == "local" else self.target.user

    def _uploader_run_as(self) -> str | None:
        return current_user() if self.target.connection == "local" else None

    # -- commands -------------------------------------------------------------------------------

    def _script_environment(self, directory: str, destination: str) -> dict[str, str]:
        return {**self.release.environment,
                "FLOWPLAN_HOST": self.host, "FLOWPLAN_BATCH": str(self.batch),
                "FLOWPLAN_RELEASE_DIR": directory, "FLOWPLAN_ARTIFACT": destination,
                "FLOWPLAN_DEPLOYMENT_GROUP": self.release.group}

    def _health_check(self, environment: Mapping[str, str]) -> str:
        """The health check; in a URL, `$NAME` and `${NAME}` of the host's environment (its
        `vars`, the script's environment) are replaced, so one URL names each host's port."""
        check = self.release.health_check or ""
        if not check.startswith(("http://", "https://")):
            return check                      # a command: bash expands it on the host
        return string.Template(check).safe_substitute({**self.target.vars, **environment})

    def _remaining(self) -> float:
        self._check_time()
        return max(0.1, self.deadline - time.monotonic())

    def _check_time(self) -> None:
        if self.cancel.is_set():
            raise CommandCanceled(f"{self.host}: canceled")
        if time.monotonic() >= self.deadline:
            raise CommandTimedOut(f"{self.host}: out of time")

    def _command(self, command: str, user: str | None = "") -> tuple[int, str]:
        """Run one of the deploy's own commands (as the execute user unless `user` is given);
        its output is kept, not logged."""
        output = bytearray()
        code = self.session.run(command, env={}, on_output=lambda _s, data: output.extend(data),
                                timeout=self._remaining(), cancel=self.cancel,
                                user=self.release.user if user == "" else user)
        return code, output.decode("utf-8", "replace")

    def _stream(self, command: str, env: Mapping[str, str]) -> int:
        """Run a command whose output goes to the step log, as the execute user."""
        try:
            return self.session.run(command, env=env,
                                    on_output=lambda stream, data: self.log.output(
                                        self.host, stream, data),
                                    timeout=self._remaining(), cancel=self.cancel,
                                    user=self.release.user)
        finally:
            self.log.flush(self.host)


def _last_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines()
             if not line.startswith(shell.ANSWER)]
    return lines[-1][:300] if lines else ""

"""The Cloud Assistant transport: deploys reach ECS instances through the ECS API, never by
connecting to them (providers/flowplan/deploy/transport.py has the protocol).

- `run`: RunCommand with the command (Base64, `bash -c` under the environment asked for, as the
  user asked for through `Username`), then DescribeInvocationResults polled with backoff (`Poll`)
  until the invocation finishes; its output, combined stdout and stderr as the agent records them,
  goes to `on_output` as it grows; the exit code is returned. At the timeout, or when `cancel` is
  set, StopInvocation stops it and TransportError says which.
- `upload`: the instance cannot be sent a file, so it fetches it: the file is granted on the
  deploy's artifact server (flowplan.artifact_server, at the `artifact_url` setting: the address
  the instances reach this machine at) at a one-time URL, and a command on the instance downloads
  it with curl (or wget) into a temporary file next to the destination, checks its SHA-256, and
  only then moves it into place.
- `probe`, and `connect` before it: the instance exists in its region, is Running, and its Cloud
  Assistant agent is online (DescribeInstances, DescribeCloudAssistantStatus); nothing is run.

A message never holds a key or an artifact URL. The command text (exported environment
included) is kept by Cloud Assistant in the account's invocation history, as any RunCommand is.
The transport holds the artifact server while it lives: `close()` it (or use it as a context
manager) at the end of the deploy, which ends every grant.
"""

from __future__ import annotations

import math
import shlex
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flowplan.artifact_server import ArtifactServerError, shared
from flowplan_providers.flowplan.deploy.transport import (OnOutput, Probe, Target,
                                                          TransportError)

from .ecs import Backoff, CredentialsRefused, EcsClient, EcsError
from .settings import AlicloudSettings

MIN_TIMEOUT, MAX_TIMEOUT = 10, 86400         # RunCommand's Timeout range, seconds
UPLOAD_TIMEOUT = 600


@dataclass(frozen=True)
class Poll:
    """How DescribeInvocationResults is polled: `first` seconds, growing by `factor` to
    `ceiling`."""

    first: float = 0.2
    factor: float = 1.5
    ceiling: float = 2.0
    stop_wait: float = 10.0                  # how long to wait for a stopped command to end


class CloudAssistantTransport:
    """Sessions to ECS instances of one account (the `provider "alicloud"` settings)."""

    def __init__(self, settings: AlicloudSettings, artifact_url: str | None = None, *,
                 backoff: Backoff | None = None, poll: Poll = Poll()):
        self.settings = settings
        self.artifact_url = artifact_url
        self.poll = poll
        self._backoff = backoff or Backoff()
        self._clients: dict[str, EcsClient] = {}
        self._served: shared | None = None
        self._lock = threading.Lock()

    def client(self, region: str) -> EcsClient:
        with self._lock:
            if region not in self._clients:
                self._clients[region] = EcsClient(self.settings, region, backoff=self._backoff)
            return self._clients[region]

    def _region(self, target: Target) -> str:
        region = target.region or self.settings.region
        if target.connection != "ecs" or not target.instance_id or not region:
            raise TransportError(f"{target.name}: not an ECS instance with an id and a region")
        return region

    def probe(self, target: Target) -> Probe:
        try:
            region = self._region(target)
            client = self.client(region)
            found = client.describe_instances(ids=[target.instance_id])
            instance = found.get(target.instance_id)
            if instance is None:
                return Probe(False, problem=f"{target.instance_id}: no such ECS instance in "
                                            f"{region}")
            if instance.status != "Running":
                return Probe(False, problem=f"{target.instance_id}: the instance is "
                                            f"{instance.status}, not Running")
            online = client.cloud_assistant_status([target.instance_id])
            if not online.get(target.instance_id, False):
                return Probe(False, problem=f"{target.instance_id}: its Cloud Assistant agent "
                                            "is not online")
        except (TransportError, EcsError, ValueError) as error:
            return Probe(False, problem=f"{target.instance_id or target.name}: {error}")
        return Probe(True)

    def connect(self, target: Target) -> "CloudAssistantSession":
        probe = self.probe(target)
        if not probe.reachable:
            raise TransportError(probe.problem or f"{target.name}: unreachable")
        return CloudAssistantSession(self, target, self.client(self._region(target)))

    def _artifacts(self) -> shared:
        """The deploy's artifact server, started on first use."""
        with self._lock:
            if self._served is None:
                if not self.artifact_url:
                    raise TransportError(
                        "uploading to ECS instances needs `artifact_url` in the flowplan block "
                        "(http://HOST:PORT, the address the instances reach this machine at)")
                try:
                    self._served = shared(self.artifact_url).__enter__()
                except ArtifactServerError as error:
                    raise TransportError(str(error)) from None
            return self._served

    def close(self) -> None:
        """End the artifact server's grants (and the server, when no other deploy uses it)."""
        with self._lock:
            served, self._served = self._served, None
        if served is not None:
            served.__exit__(None, None, None)

    def __enter__(self) -> "CloudAssistantTransport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CloudAssistantSession:
    def __init__(self, transport: CloudAssistantTransport, target: Target, client: EcsClient):
        self.transport = transport
        self.target = target
        self.client = client
        self.instance_id: str = target.instance_id or ""

    def upload(self, local: Path, remote: str, sha256: str) -> str:
        served = self.transport._artifacts()
        try:
            grant = served.grant(Path(local))
        except ArtifactServerError as error:
            raise TransportError(f"{self.instance_id}: {error}") from None
        script = _fetch_script(grant.url, remote, sha256)
        output = bytearray()
        try:
            code = self.run(script, env={}, on_output=lambda _s, b: output.extend(b),
                            timeout=UPLOAD_TIMEOUT, cancel=threading.Event())
        finally:
            if served.server is not None:
                served.server.revoke(grant)
        text = output.decode("utf-8", "replace")
        if code == 0:
            for line in text.splitlines():
                if line.startswith("FLOWPLAN-UPLOADED "):
                    return line[len("FLOWPLAN-UPLOADED "):]
            raise TransportError(f"{self.instance_id}: the upload of {remote} did not report "
                                 "where it put the file")
        reason = {13: "checksum mismatch", 12: "the download failed",
                  11: "neither curl nor wget is installed"}.get(code, f"exit code {code}")
        tail = text.strip().splitlines()[-1:] if text.strip() else []
        raise TransportError(f"{self.instance_id}: upload of {remote} failed: {reason}"
                             + (f" ({tail[0][:200]})" if tail and code != 13 else ""))

    def run(self, command: str, *, env: Mapping[str, str], on_output: OnOutput,
            timeout: float | None, cancel: threading.Event, user: str | None = None) -> int:
        exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items()
                          if name.isidentifier())
        script = f"{exports}exec bash -c {shlex.quote(command)}\n"
        limit = MAX_TIMEOUT if timeout is None else \
            min(MAX_TIMEOUT, max(MIN_TIMEOUT, math.ceil(timeout) + 5))
        try:
            invoke_id = self.client.run_command(self.instance_id, script, timeout=limit,
                                                username=user or self.target.user or None)
        except EcsError as error:
            raise TransportError(f"{self.instance_id}: cannot run the command: {error}") from None
        return self._wait(invoke_id, on_output, timeout, cancel)

    def _wait(self, invoke_id: str, on_output: OnOutput, timeout: float | None,
              cancel: threading.Event) -> int:
        poll = self.transport.poll
        deadline = None if timeout is None else time.monotonic() + timeout
        delay, seen = poll.first, 0
        while True:
            try:
                result = self.client.invocation_result(invoke_id, self.instance_id)
            except CredentialsRefused as error:
                raise TransportError(f"{self.instance_id}: {error}") from None
            except EcsError as error:
                self._stop(invoke_id)
                raise TransportError(f"{self.instance_id}: lost the command: {error}") from None
            if result is not None:
                if len(result.output) > seen:
                    on_output("stdout", result.output[seen:])
                    seen = len(result.output)
                if result.finished:
                    return self._outcome(result, on_output)
            if cancel.is_set():
                self._stop(invoke_id)
                raise TransportError(f"{self.instance_id}: the command was cancelled and "
                                     "stopped")
            if deadline is not None and time.monotonic() >= deadline:
                self._stop(invoke_id)
                raise TransportError(f"{self.instance_id}: the command timed out after "
                                     f"{timeout:g} s and was stopped")
            wait = delay if deadline is None else max(0.0, min(delay,
                                                               deadline - time.monotonic()))
            cancel.wait(wait)
            delay = min(poll.ceiling, delay * poll.factor)

    def _outcome(self, result, on_output: OnOutput) -> int:
        if result.dropped:
            on_output("stderr", f"[Cloud Assistant kept the first part of the output only: "
                                f"{result.dropped} bytes were dropped]\n".encode())
        if result.error_code in ("", "ExitCodeNonzero") and result.exit_code is not None \
                and result.status != "Stopped":
            return result.exit_code
        if result.error_code == "ExecutionTimeout":
            raise TransportError(f"{self.instance_id}: the command timed out on the instance")
        why = result.error_info or result.error_code or result.status
        raise TransportError(f"{self.instance_id}: the command did not finish: {why}"
                             + (f" ({result.error_code})" if result.error_code else ""))

    def _stop(self, invoke_id: str) -> None:
        """StopInvocation, then wait a little for the command to be stopped."""
        try:
            self.client.stop_invocation(invoke_id, [self.instance_id])
        except EcsError:
            return
        deadline = time.monotonic() + self.transport.poll.stop_wait
        while time.monotonic() < deadline:
            try:
                result = self.client.invocation_result(invoke_id, self.instance_id)
            except EcsError:
                return
            if result is None or result.finished:
                return
            time.sleep(self.transport.poll.first)

    def close(self) -> None:
        pass                          # nothing is held per instance


def _fetch_script(url: str, remote: str, sha256: str) -> str:
    """The command that fetches a granted file into `remote` (relative: to $HOME)."""
    if not all(c in "0123456789abcdef" for c in sha256) or len(sha256) != 64:
        raise TransportError("the SHA-256 to check must be 64 lower-case hex digits")
    return f"""set -u
dest={shlex.quote(remote)}
case "$dest" in /*) ;; *) dest="$HOME/$dest" ;; esac
mkdir -p -- "$(dirname -- "$dest")" || exit 10
tmp="$(mktemp "$dest.part.XXXXXX")" || exit 10
url={shlex.quote(url)}
if command -v curl >/dev/null 2>&1; then
  curl -fsS --connect-timeout 10 --max-time {UPLOAD_TIMEOUT - 30} -o "$tmp" "$url"
elif command -v wget >/dev/null 2>&1; then
  wget -q -T {UPLOAD_TIMEOUT - 30} -O "$tmp" "$url"
else
  rm -f -- "$tmp"; echo "neither curl nor wget is installed" >&2; exit 11
fi
status=$?
if [ "$status" -ne 0 ]; then rm -f -- "$tmp"; echo "download failed ($status)" >&2; exit 12; fi
actual="$(sha256sum "$tmp" | cut -d ' ' -f 1)"
if [ "$actual" != {sha256} ]; then
  rm -f -- "$tmp"; echo "checksum mismatch: expected {sha256}, got $actual" >&2; exit 13
fi
mv -f -- "$tmp" "$dest" || exit 10
printf 'FLOWPLAN-UPLOADED %s\\n' "$(cd "$(dirname -- "$dest")" && pwd)/$(basename -- "$dest")"
"""

"""The `host_deploy` step type: an artifact of the run to every host of a deployment group, batch
by batch.

    step "deploy" {
      type             = "host_deploy"
      artifact         = "package"                      # an archive step's name
      deployment_group = deployment_group.daily
      download_path    = "app"                          # relative: to the user's home
      script           = "./install.sh"
      batches          = 2
      pause            = "first_batch"
    }

`run` checks everything it can before touching any host (the artifact, the group and its
credentials, the archive's members) and fails naming what is wrong. It then plans the hosts into
batches (flowplan_providers.flowplan.deploy.batches) and records them in the run's DeployLedger:
hosts that an earlier attempt deployed are recorded `skipped` and left alone. Each batch's hosts
are deployed at once (at most `parallel`), each by a Rollout (one session per host for the whole
step); a host that fails lets the running ones finish, starts no other and no later batch, and
fails the step naming the hosts. After a batch that `pause` names the step returns WAITING;
`flowplan resume` records a `resume` decision and runs the step again (the same step run), which
goes on with the next batch.

Transports: SSH and local hosts through flowplan_providers.flowplan.deploy.hosts, ECS instances
(the group's `ecs_instances`) through Cloud Assistant with the `provider "alicloud"` block and
`artifact_url`; each is made on first use and closed when the step returns. Private keys and the
alicloud keys stay in the Targets and the settings: neither the log nor an error holds them.
"""

from __future__ import annotations

import tarfile
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from flowplan.config.schema import Ref, Step, _check_duration, parse_duration
from flowplan.executor.status import Status
from flowplan.executor.step_process.user_files import Refused, check_members
from flowplan.executor.step_type import StepContext, StepResult
from flowplan.executor.targets import GROUP_PREFIX
from flowplan.values import is_sensitive_marker

from . import batches as planning
from .hosts import host_targets, transport_for
from .rollout import HostLog, HostOutcome, Release, Rollout, address_of
from .transport import Target, Transport, TransportError

CONNECT_TIMEOUT = 10.0          # seconds, at most: less when the host's timeout is shorter


class HostDeployStep(Step):
    """`type = "host_deploy"`: an artifact of the run to the hosts of a deployment group."""

    artifact: str
    deployment_group: Annotated[str, Ref("deployment_group", or_name=True)]
    download_path: str
    user: Optional[str] = None
    script: str
    batches: int = Field(1, ge=1)
    batch_size: Optional[int] = Field(None, ge=1)
    pause: Literal["first_batch", "every_batch", "none"] = "none"
    parallel: Optional[int] = Field(None, ge=1)
    timeout: str = "10m"
    health_check: Optional[str] = None
    health_check_timeout: str = "60s"
    keep_releases: int = Field(5, ge=1)
    env: dict[str, str] = {}

    _durations = field_validator("timeout", "health_check_timeout")(_check_duration)

    @model_validator(mode="before")
    @classmethod
    def _batches_or_batch_size(cls, values: Any) -> Any:
        if isinstance(values, Mapping) and values.get("batch_size") is not None \
                and values.get("batches") not in (None, 1):
            raise ValueError("give either `batches` or `batch_size`, not both")
        return values


class Refusal(Exception):
    """What stops the deploy before it touches a host; the message says what to do."""


class HostDeployStepType:
    name = "host_deploy"
    config_model = HostDeployStep
    script_attributes = ("script",)

    def run(self, context: StepContext) -> StepResult:
        config: HostDeployStep = context.config
        group = config.deployment_group.removeprefix(GROUP_PREFIX)
        log = HostLog(context.log)
        ledger = context.deploys
        if ledger is None:
            return StepResult(Status.FAILED, error="host_deploy needs the run's deploy records "
                                                   "(this flowplan is too old for it)")
        try:
            release = _release(context, config, group)
            targets = _targets(context, group)
            if any(t.connection == "ecs" for t in targets):
                _alicloud_settings(context, group)
        except Refusal as refusal:
            return StepResult(Status.FAILED, error=str(refusal))
        by_name = {t.name: t for t in targets}
        plan = planning.split(sorted(by_name), config.batches, config.batch_size)
        records = _records(ledger, plan, by_name, log)
        deploy = _Deploy(context, config, release, group, plan, by_name, log)
        try:
            return deploy.run(records)
        finally:
            deploy.close()


def _release(context: StepContext, config: HostDeployStep, group: str) -> Release:
    artifact = context.artifact(config.artifact)
    if artifact is None:
        raise Refusal(f"this run has no artifact named {config.artifact!r}: an archive step "
                      f"with name = \"{config.artifact}\" must run before the deploy")
    path = Path(artifact.path)
    if not path.is_file():
        raise Refusal(f"the artifact {config.artifact!r} is no longer kept ({path} is gone)")
    file_name = path.name
    if file_name.endswith((".tgz", ".tar.gz", ".tar")):
        _check_archive(path, config.artifact)
    return Release(group=group, artifact_path=path, artifact_file=file_name,
                   sha256=artifact.sha256.lower(), size=artifact.size,
                   download_path=_home_relative(config.download_path), user=config.user,
                   script=config.script, environment=dict(context.remote_environment),
                   health_check=config.health_check,
                   health_check_timeout=parse_duration(config.health_check_timeout),
                   keep_releases=config.keep_releases, timeout=parse_duration(config.timeout))


def _home_relative(path: str) -> str:
    """`~/app` as `app` (relative paths are taken from the user's home on the host)."""
    if path in ("~", "~/"):
        return "."
    return path[2:] if path.startswith("~/") else path


def _check_archive(path: Path, name: str) -> None:
    """Every member of the archive may be extracted into a release directory: checked here,
    once, before any host is touched."""
    try:
        with tarfile.open(path, "r:*") as archive, tempfile.TemporaryDirectory() as empty:
            check_members(archive.getmembers(), Path(empty), f"the artifact {name!r}",
                          "the release directory")
    except Refused as refused:
        raise Refusal(f"{refused}; nothing was deployed") from None
    except (tarfile.TarError, OSError) as error:
        raise Refusal(f"the artifact {name!r} is not a tar archive flowplan can read: "
                      f"{error}") from None


def _targets(context: StepContext, group: str) -> list[Target]:
    attributes = context.deployment_group(group)
    if attributes is None:
        raise Refusal(f"deployment_group.{group} has not been applied: run flowplan apply")
    hosts = attributes.get("host") if isinstance(attributes.get("host"), Mapping) else {}
    for label, host in sorted(hosts.items()):
        if isinstance(host, Mapping) and is_sensitive_marker(host.get("private_key")):
            raise Refusal(f"the private_key of host {label} of deployment_group.{group} is not "
                          "the one applied, or the config no longer gives it: run flowplan "
                          "apply")
    targets = host_targets(attributes)
    instances = attributes.get("ecs_instances")
    if isinstance(instances, Mapping):
        for instance_id, instance in sorted(instances.items()):
            region = instance.get("region") if isinstance(instance, Mapping) else None
            targets.append(Target(name=instance_id, connection="ecs", user="root",
                                  instance_id=instance_id,
                                  region=region if isinstance(region, str) else None))
    if not targets:
        raise Refusal(f"deployment_group.{group} has no hosts")
    names = [t.name for t in targets]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise Refusal(f"deployment_group.{group} names {', '.join(twice)} twice (a host label "
                      "and an ECS instance id)")
    return targets


def _alicloud_settings(context: StepContext, group: str) -> Any:
    """The `provider "alicloud"` settings that reach the group's ECS instances."""
    from flowplan.providers import ProviderBlock
    from flowplan_providers.alicloud.settings import read_settings

    block = context.provider_block("alicloud")
    if block is None:
        raise Refusal(f"deployment_group.{group} has ECS instances, reached through Cloud "
                      "Assistant, which needs a provider \"alicloud\" block (region and keys)")
    absent = [name for name in ("access_key", "secret_key")
              if not (isinstance(block.get(name), str) and block.get(name))]
    if absent:
        raise Refusal(f"the provider \"alicloud\" block has no {' or '.join(absent)} in this "
                      "run: the sensitive variables it reads must have values where the run is "
                      "started or continued (FP_VAR_NAME in the environment, or flowplan secret "
                      "set NAME)")
    settings, problems = read_settings(ProviderBlock(config=dict(block), literal=()))
    errors = [p.summary for p in problems if p.severity == "error"]
    if settings is not None and not errors and settings.missing():
        errors = [f"{' and '.join(settings.missing())} not set"]
    if settings is None or errors:
        raise Refusal(f"the provider \"alicloud\" block cannot reach the ECS instances of "
                      f"deployment_group.{group}: {'; '.join(errors) or 'no settings'}")
    if not context.artifact_url:
        raise Refusal(f"deployment_group.{group} has ECS instances, which fetch the artifact "
                      "from this machine: set `artifact_url` in the flowplan block "
                      "(http://HOST:PORT, the address the instances reach this machine at)")
    return settings


def _records(ledger: Any, plan: list[tuple[str, ...]], targets: Mapping[str, Target],
             log: HostLog) -> dict[str, Any]:
    """This step run's records, planned on its first run: hosts an earlier attempt deployed
    `skipped` (with a note saying where), the others `queued`. A paused deploy continued finds
    its rows (and plans a host the group gained meanwhile)."""
    mine = ledger.mine()
    if all(host in mine for hosts in plan for host in hosts):
        return mine
    skipped = planning.skipped_hosts(ledger.earlier(), ledger.step_run_id)
    rows = []
    for number, hosts in enumerate(plan, start=1):
        for host in hosts:
            if host in mine:
                continue
            detail: dict[str, Any] = {"address": address_of(targets[host]),
                                      "connection": targets[host].connection}
            if host in skipped:
                detail["note"] = skipped[host]
                log.say(f"skipped: {skipped[host]}", host)
            rows.append((host, number, "skipped" if host in skipped else "queued", detail))
    return ledger.plan(rows)


class _Deploy:
    """One run of the step: the batches left, the transports it opened."""

    def __init__(self, context: StepContext, config: HostDeployStep, release: Release,
                 group: str, plan: list[tuple[str, ...]], targets: Mapping[str, Target],
                 log: HostLog):
        self.context = context
        self.config = config
        self.release = release
        self.group = group
        self.plan = plan
        self.targets = targets
        self.log = log
        self.ledger = context.deploys
        self._transports: dict[str, Any] = {}
        self._lock = threading.Lock()

    def run(self, records: Mapping[str, Any]) -> StepResult:
        context, config = self.context, self.config
        ran_batch = False
        while True:
            statuses = {host: record.status for host, record in records.items()}
            where = planning.progress(self.plan, statuses, config.pause,
                                      self.ledger.resumes())
            if where.next_batch is None:
                return self._succeeded(records)
            if where.wait:
                return self._paused(where.paused_after, ran_batch)
            if context.cancel.is_set():
                return StepResult(Status.CANCELED, error="canceled")
            failed = self._batch(where.next_batch, records)
            ran_batch = True
            records = self.ledger.mine()
            if failed:
                return self._failed(records, failed)

    # -- one batch ------------------------------------------------------------------------------

    def _batch(self, number: int, records: Mapping[str, Any]) -> list[HostOutcome]:
        hosts = [h for h in self.plan[number - 1]
                 if records[h].status not in planning.DONE]
        count = len(self.plan)
        self.log.say(f"batch {number} of {count}: {', '.join(hosts)}")
        stop = threading.Event()
        failed: list[HostOutcome] = []
        width = min(self.config.parallel or len(hosts), len(hosts)) or 1
        with ThreadPoolExecutor(max_workers=width,
                                thread_name_prefix="host_deploy") as pool:
            pending: dict[Future, str] = {}
            queue = list(hosts)
            while queue or pending:
                while queue and len(pending) < width and not stop.is_set():
                    host = queue.pop(0)
                    pending[pool.submit(self._host, host, number, records[host])] = host
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    pending.pop(future)
                    outcome = future.result()
                    if outcome.status != "succeeded":
                        failed.append(outcome)
                        stop.set()
        return failed

    def _host(self, host: str, batch: int, record: Any) -> HostOutcome:
        target = self.targets[host]
        detail = {**(record.detail or {}), "attempt": self.context.attempt}
        self.ledger.started(host, detail)
        try:
            transport = self._transport(target)
        except TransportError as error:
            outcome = HostOutcome(host, "failed", None, str(error), detail)
            self.log.say(f"failed: {error}", host)
        else:
            where = "this machine" if target.connection == "local" else address_of(target)
            self.log.say(f"deploying release {self.release.name} to {where} as "
                         f"{self.release.user or target.user} (batch {batch})", host)
            outcome = Rollout(self.release, target, batch, transport, self.log,
                              self.context.cancel, self.context.deadline, detail).run()
        self.ledger.finished(host, outcome.status, exit_code=outcome.exit_code,
                             error=outcome.error, detail=outcome.detail)
        return outcome

    def _transport(self, target: Target) -> Transport:
        kind = target.connection
        with self._lock:
            made = self._transports.get(kind)
            if made is None:
                made = self._make_transport(kind)
                self._transports[kind] = made
            return made

    def _make_transport(self, kind: str) -> Transport:
        if kind != "ecs":
            timeout = min(CONNECT_TIMEOUT, float(self.release.timeout))
            return transport_for(kind, self.context.layout.settings.base_dir, timeout)
        from flowplan_providers.alicloud.cloud_assistant import CloudAssistantTransport

        try:
            settings = _alicloud_settings(self.context, self.group)
        except Refusal as refusal:
            raise TransportError(str(refusal)) from None
        return CloudAssistantTransport(settings, self.context.artifact_url)

    def close(self) -> None:
        for transport in self._transports.values():
            close = getattr(transport, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
        self._transports.clear()

    # -- results --------------------------------------------------------------------------------

    def _paused(self, after: int | None, ran_batch: bool) -> StepResult:
        ref = self.context.run.ref
        if ran_batch:
            self.log.say(f"paused after batch {after} of {len(self.plan)}: flowplan resume "
                         f"{ref}")
        else:
            self.log.say(f"still paused after batch {after} of {len(self.plan)}: flowplan "
                         f"resume {ref}")
        return StepResult(Status.WAITING)

    def _counts(self, records: Mapping[str, Any]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in records.values():
            counts[record.status] = counts.get(record.status, 0) + 1
        return counts

    def _summary(self, records: Mapping[str, Any]) -> dict[str, Any]:
        counts = self._counts(records)
        deployed = counts.get("succeeded", 0) + counts.get("skipped", 0)
        total = len(records)
        batches = len(self.plan)
        lines = [f"release {self.release.name} of {self.release.artifact_file} "
                 f"(sha256 {self.release.sha256[:16]}...) to deployment_group.{self.group}"]
        if counts.get("skipped"):
            lines.append(f"{counts['skipped']} host{'s' if counts['skipped'] != 1 else ''} "
                         "skipped: deployed by an earlier attempt")
        return {"title": f"deployed to {deployed} of {total} host{'s' if total != 1 else ''} "
                         f"in {batches} batch{'es' if batches != 1 else ''}",
                "lines": lines, "hosts": total, "deployed": deployed,
                "succeeded": counts.get("succeeded", 0), "skipped": counts.get("skipped", 0),
                "failed": counts.get("failed", 0), "timed_out": counts.get("timed_out", 0),
                "canceled": counts.get("canceled", 0), "not_started": counts.get("queued", 0),
                "batches": batches, "release": self.release.name}

    def _succeeded(self, records: Mapping[str, Any]) -> StepResult:
        summary = self._summary(records)
        self.log.say(summary["title"])
        return StepResult(Status.SUCCEEDED, exit_code=0, summary=summary)

    def _failed(self, records: Mapping[str, Any], failed: list[HostOutcome]) -> StepResult:
        summary = self._summary(records)
        if self.context.cancel.is_set() and all(o.status == "canceled" for o in failed):
            return StepResult(Status.CANCELED, error="canceled", summary=summary)
        described = ", ".join(f"{o.host} ({_reason(o)})" for o in failed)
        waiting = [h for h, r in records.items() if r.status == "queued"]
        rest = (f"; {len(waiting)} host{'s' if len(waiting) != 1 else ''} not started "
                f"({', '.join(waiting)})" if waiting else "; no host left to start")
        title = summary["title"]
        summary["title"] = title.replace("deployed to", "deploy failed: deployed to", 1)
        summary["lines"] = [*summary["lines"], *(f"{o.host}: {_reason(o)}" for o in failed)]
        codes = {o.exit_code for o in failed if o.exit_code is not None}
        return StepResult(Status.FAILED, exit_code=codes.pop() if len(codes) == 1 else None,
                          error=f"deploy failed on {described}{rest}", summary=summary)


def _reason(outcome: HostOutcome) -> str:
    text = _without_host(outcome.error, outcome.host)
    return text if outcome.status == "failed" else f"{outcome.status.replace('_', ' ')}: {text}"


def _without_host(error: str | None, host: str) -> str:
    """An error without the `HOST: ` or `HOST (address): ` it starts with (the message names
    the host already)."""
    text = error or "failed"
    if text.startswith(f"{host}: "):
        return text[len(host) + 2:]
    if text.startswith(f"{host} (") and "): " in text:
        return text.split("): ", 1)[1]
    return text

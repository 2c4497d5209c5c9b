"""The step-type protocol and its registry.

A step type is an object with a `name`, a `config_model` (the pydantic model of its attributes, a
flowplan.config.schema.Step subclass: the loader checks step blocks against it) and
`run(context) -> StepResult`. Core's are `command`, `archive`, `download_artifact` and
`manual_approval`; the build step types of flowplan.steps (java_code_scan, maven_unit_test,
java_build, nodejs_build, nodejs_test) and providers' (image_build, host_deploy, ...) come through
the `flowplan.step_types` entry-point group: an entry point names the step type (a class is
instantiated without arguments).

`StepContext` is everything a step may use: its resolved and validated attributes, its workspace,
the environment its processes get, its log, the deadline, the cancel flag, the run's facts, and
the user its processes run as (`run_as`; pass `user=context.user` to run_process), the tool
locations of the settings, and the step's previous success in this pipeline (and, in a
rollback, the run rolled back to); for deploys, the
deployment groups and provider blocks the run may reach and the ledger of per-host records;
any applied resource's attributes and the secrets a step names (image_build). A result may carry a
`summary` (test totals, scan findings) that the run keeps and `runs show` prints.
The order of steps, retries, timeouts of tasks and recording in the store are the task runner's
(flowplan.executor.run.task).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from flowplan.executor.run.layout import RunLayout
from flowplan.executor.status import Status
from flowplan.executor.step_process.logs import StepLog

STEP_TYPE_ENTRY_POINTS = "flowplan.step_types"


@dataclass(frozen=True)
class RunInfo:
    """The facts of a run that steps may use (and `run.*` expressions see)."""

    id: int
    pipeline: str
    number: int
    trigger: str
    user: str | None
    branch: str | None
    commit: str | None
    commit_short: str | None
    source_url: str | None = None    # the pipeline's source, without credentials (labels)

    @property
    def ref(self) -> str:
        return f"{self.pipeline}#{self.number}"


@dataclass(frozen=True)
class ArtifactFile:
    name: str
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class StepResult:
    status: Status                   # SUCCEEDED, FAILED, CANCELED or WAITING
    exit_code: int | None = None
    error: str | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    artifacts: tuple[ArtifactFile, ...] = ()
    # What the step reports beyond outputs, stored with the step run (masked) and shown by
    # `flowplan runs show`: {"title": one line, "lines": [details], ...figures as data}.
    summary: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PreviousSuccess:
    """The newest earlier run of the pipeline in which the same step succeeded."""

    number: int
    commit: str | None               # the commit that run checked out
    outputs: Mapping[str, Any]       # the step's outputs then (masked as stored)


@dataclass
class StepContext:
    run: RunInfo
    stage: str
    task: str
    step: str
    attempt: int
    step_run_id: int
    config: Any                      # the validated config_model instance
    attributes: dict[str, Any]       # the same, as plain data
    workspace: Path
    environment: dict[str, str]      # what processes of the step get
    output_file: Path                # $FLOWPLAN_OUTPUT
    private_dir: Path                # scratch space outside .flowplan, removed after the task
    deadline: float | None           # time.monotonic() by which the step must end
    timeout_text: str | None         # the timeout that set the deadline, for messages
    cancel: threading.Event
    kill_grace: float
    log: StepLog
    layout: RunLayout
    first_started_at: datetime       # when this step first started (waiting steps restart)
    approvals: Sequence[Any] = ()    # ApprovalRecords about this step
    role_members: Callable[[str], list[str]] = lambda role: []
    on_process: Callable[[int], None] = lambda pid: None   # a process group started
    user: Any = None                 # step_user.StepUser its processes run as (None: flowplan's)
    tools: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # settings' `tools`
    previous_success: Callable[[], PreviousSuccess | None] = lambda: None
    # in a rollback run (`flowplan rollback --to RUN`): RUN, with this step's outputs there
    rollback_of: Callable[[], PreviousSuccess | None] = lambda: None
    artifact: Callable[[str], ArtifactFile | None] = lambda name: None   # this run's, by name
    # Deploys (flowplan.executor.targets, flowplan.executor.run.deploys): a deployment group by
    # name as applied, with the credentials the config gives in clear; a provider's block
    # (`provider "alicloud" {}`) evaluated, secrets in clear; where deploys serve artifacts
    # (`artifact_url`); and the ledger of this step run's per-host records.
    deployment_group: Callable[[str], Mapping[str, Any] | None] = lambda name: None
    provider_block: Callable[[str], Mapping[str, Any] | None] = lambda name: None
    # any applied resource's state attributes by address (`acr_repository.app`), None when the
    # state has none; and the clear text of a secret a step names (`credentials = "NAME"`: a
    # variable of the run, else a store secret; masked in errors from then on; SecretMissing
    # otherwise)
    applied_resource: Callable[[str], Mapping[str, Any] | None] = lambda address: None
    secret: Callable[[str], str] = lambda name: _no_secrets(name)
    # the task's log masking: every sensitive value of the run in `text` replaced by `***`
    # (for a step that must not keep a sensitive value in a file)
    mask: Callable[[str], str] = lambda text: text
    artifact_url: str | None = None
    deploys: Any = None              # run.deploys.DeployLedger of this step run
    # what a process on another machine gets: pipeline variables, FLOWPLAN_* facts of the run
    # and the step's `env`, without this machine's environment
    remote_environment: Mapping[str, str] = field(default_factory=dict)


class SecretMissing(Exception):
    """A secret a step names is neither a variable of the run nor in the store (or cannot be
    opened); the text says which."""


def _no_secrets(name: str) -> str:
    raise SecretMissing(f"secret {name!r}: this run has no secrets to open")


@runtime_checkable
class StepType(Protocol):
    name: str
    config_model: type

    def run(self, context: StepContext) -> StepResult: ...


def _builtin() -> dict[str, StepType]:
    from flowplan.executor.run.approval import ManualApprovalStepType
    from flowplan.steps.archive import ArchiveStepType
    from flowplan.steps.command import CommandStepType
    from flowplan.steps.download_artifact import DownloadArtifactStepType

    return {kind.name: kind for kind in (CommandStepType(), ArchiveStepType(),
                                         DownloadArtifactStepType(), ManualApprovalStepType())}


@lru_cache(maxsize=None)
def step_type(kind: str) -> StepType | None:
    """The step type named `kind`: core's, else the provider entry point of that name (loaded on
    first use, so one broken plugin fails only its own steps). TypeError when it is broken."""
    builtin = _builtin()
    if kind in builtin:
        return builtin[kind]
    for point in entry_points(group=STEP_TYPE_ENTRY_POINTS):
        if point.name != kind:
            continue
        loaded = point.load()
        instance = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(instance, StepType):
            raise TypeError(f"entry point {point.name!r} of {STEP_TYPE_ENTRY_POINTS} is not a "
                            f"step type: it needs name, config_model and run(context)")
        return instance
    return None


def step_type_names() -> list[str]:
    """Names of every step type, without loading any plugin."""
    return sorted({*_builtin(), *(p.name for p in entry_points(group=STEP_TYPE_ENTRY_POINTS))})


@lru_cache(maxsize=1)
def step_types() -> dict[str, StepType]:
    """Every step type this process can run: core's, then those of installed providers (a
    broken plugin raises TypeError here; runs load each type alone, with `step_type`)."""
    return {name: step_type(name) for name in step_type_names()}  # type: ignore[misc]

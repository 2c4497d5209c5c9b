"""Step-type schemas: the attributes each `step` block may have, chosen by its `type`.

Core declares the step types it runs itself; the build step types of flowplan.steps
(`java_code_scan`, `maven_unit_test`, `java_build`, `nodejs_build`, `nodejs_test`) and providers'
(`image_build`, `host_deploy`, ...) come through the `flowplan.step_types` entry-point group, whose
objects carry a `config_model` (a flowplan.config.schema.Step subclass). A plugin that fails to load is kept aside
with its reason (`StepModels.failures`): the loader warns about it, and a step of its type gets a
located error saying so, while the rest of the config loads as usual. What a step type does when
it runs is the executor's business (flowplan.executor), not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Literal, Optional

from pydantic import Field, field_validator

from flowplan.config.schema import BlockModel, Step, _check_duration

STEP_TYPE_ENTRY_POINTS = "flowplan.step_types"


class CommandStep(Step):
    """`type = "command"`: a shell script; its exit code decides."""

    run: str
    shell: str = "bash -e"
    env: dict[str, str] = {}
    timeout: Optional[str] = None
    outputs: list[str] = []

    _duration = field_validator("timeout")(_check_duration)


class ArchiveStep(Step):
    """`type = "archive"`: a named tar.gz artifact of `paths` (globs allowed)."""

    name: str
    paths: list[str] = Field(min_length=1)


class DownloadArtifactStep(Step):
    """`type = "download_artifact"`: an artifact of this run (made by an earlier step) unpacked
    into `path` of the workspace, or copied there as `<name>.tgz` with `extract = false`."""

    name: str
    path: str = "."
    extract: bool = True


class ManualApprovalStep(Step):
    """`type = "manual_approval"`: waits until people approve or reject."""

    approvers: list[str] = []
    roles: list[str] = []
    method: Literal["anyone", "all"] = "anyone"
    timeout: Optional[str] = None
    description: str = ""

    _duration = field_validator("timeout")(_check_duration)


BUILTIN_STEP_MODELS: dict[str, type[BlockModel]] = {
    "command": CommandStep,
    "archive": ArchiveStep,
    "download_artifact": DownloadArtifactStep,
    "manual_approval": ManualApprovalStep,
}


# The summary of the error a step gets when the plugin of its type failed to load.
STEP_PLUGIN_FAILED = "Step type plugin failed to load"


@dataclass(frozen=True)
class StepPluginFailure:
    """A `flowplan.step_types` entry point that could not give a step model, and why."""

    name: str                       # the step type (the entry point's name)
    target: str                     # the entry point's value, `module:attribute`
    error: str                      # e.g. "ImportError: No module named 'acme'"

    step_error_summary = STEP_PLUGIN_FAILED

    @property
    def summary(self) -> str:
        return f'Step type plugin "{self.name}" failed to load'

    @property
    def detail(self) -> str:
        return (f'Step type plugin "{self.name}" ({self.target}) failed to load: {self.error}. '
                f'Steps of type "{self.name}" cannot be checked or run until it loads.')


class StepModels(dict):
    """Step models by type name, and the plugins that failed to load (`failures`, by name)."""

    def __init__(self, models: dict[str, type[BlockModel]],
                 failures: dict[str, StepPluginFailure]):
        super().__init__(models)
        self.failures = failures


@lru_cache(maxsize=1)
def step_models() -> StepModels:
    """Every known step type's model: core's plus those providers register. A plugin that fails
    to load, or whose `config_model` is not a Step model, is left out and kept in `failures`."""
    models = dict(BUILTIN_STEP_MODELS)
    failures: dict[str, StepPluginFailure] = {}
    for ep in entry_points(group=STEP_TYPE_ENTRY_POINTS):
        if ep.name in models:
            continue
        try:
            model = ep.load().config_model
        except Exception as error:  # noqa: BLE001 - a broken plugin is a diagnostic
            failures[ep.name] = StepPluginFailure(ep.name, ep.value,
                                                  f"{type(error).__name__}: {error}")
            continue
        if not (isinstance(model, type) and issubclass(model, Step)):
            failures[ep.name] = StepPluginFailure(
                ep.name, ep.value, f"TypeError: its config_model {model!r} is not a "
                                   "flowplan.config.schema.Step subclass")
            continue
        models[ep.name] = model
    return StepModels(models, failures)

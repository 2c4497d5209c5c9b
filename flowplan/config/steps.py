"""Step-type schemas: the attributes each `step` block may have, chosen by its `type`.

Core declares the step types it runs itself; providers add theirs (`java_build`, `image_build`,
`host_deploy`, ...) through the `flowplan.step_types` entry-point group, whose objects carry a
`config_model` (a flowplan.config.schema.Step subclass). What a step type does when it runs is the
executor's business (flowplan.executor), not this module's.
"""

from __future__ import annotations

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
    "manual_approval": ManualApprovalStep,
}


@lru_cache(maxsize=1)
def step_models() -> dict[str, type[BlockModel]]:
    """Every known step type's model: core's plus those providers register."""
    models = dict(BUILTIN_STEP_MODELS)
    for ep in entry_points(group=STEP_TYPE_ENTRY_POINTS):
        if ep.name not in models:
            models[ep.name] = ep.load().config_model
    return models

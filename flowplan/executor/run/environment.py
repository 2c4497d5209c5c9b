"""The values a run works with: variables (plain and sensitive), the `run.*` facts, step outputs,
and the environment a step's processes get.

`RunValues` holds one drive's variables; `sensitive` names the ones to mask, and `stored()` is the
masked copy a run record keeps. `context()` builds the flowplan.config.runtime.RunContext that
deferred values are resolved with; `step_environment()` the process environment:

    os.environ  <  pipeline variables  <  FLOWPLAN_* built-ins  <  the step's own `env`

Evaluating expressions is flowplan.config.runtime's job; masking is
flowplan.executor.step_process.masking's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowplan.executor.step_type import RunInfo
from flowplan.values import (SENSITIVE_KEY, Sensitive, is_sensitive_marker, sensitive_digest,
                             sensitive_matches)

MASK = "***"


def env_text(value: Any) -> str:
    """How a value is written into an environment variable."""
    if isinstance(value, Sensitive):
        value = value.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, sort_keys=True)


@dataclass
class RunValues:
    """A drive's `var.*` values; values wrapped in `Sensitive` are taken as sensitive too."""

    variables: dict[str, Any] = field(default_factory=dict)
    sensitive: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, variables: Mapping[str, Any] | None,
           sensitive: Iterable[str] = ()) -> RunValues:
        plain: dict[str, Any] = {}
        names = set(sensitive)
        for name, value in (variables or {}).items():
            if isinstance(value, Sensitive):
                names.add(name)
                value = value.value
            plain[name] = value
        return cls(plain, names)

    def stored(self) -> dict[str, Any]:
        """The copy a run record keeps: a sensitive value as a salted hash marker, which lets a
        continued run check it is given the same value again, and never shows the value."""
        return {name: ({SENSITIVE_KEY: sensitive_digest(env_text(value))}
                       if name in self.sensitive else value)
                for name, value in self.variables.items()}

    def over(self, stored: Mapping[str, Any]) -> RunValues:
        """A continued run's values: what it recorded when it started, with these values for
        the sensitive ones it could only record as salted hashes. A sensitive value must be the
        one the run started with: ValueError says which changed or is missing otherwise."""
        merged = dict(self.variables)
        sensitive = set(self.sensitive)
        for name, value in stored.items():
            if value == MASK:
                continue
            if is_sensitive_marker(value):
                sensitive.add(name)
                given = self.variables.get(name)
                if given is None:
                    raise ValueError(
                        f"var.{name} is sensitive and has no value now (the run started with "
                        f"one): set it again, e.g. with `flowplan secret set {name}`")
                if not sensitive_matches(value, env_text(given)):
                    raise ValueError(
                        f"var.{name} is sensitive and its value changed since the run started "
                        f"(store secret, FP_VAR_{name}, *.auto.fpvars or default); set the "
                        "value it started with, or start a new run")
                continue
            merged[name] = value
        return RunValues(merged, sensitive)

    def secret_texts(self) -> list[str]:
        return [env_text(self.variables[name]) for name in self.sensitive
                if self.variables.get(name) is not None]


def run_namespace(run: RunInfo, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What `run.*` expressions see; `run.variables` are the run's pipeline variables."""
    return {"id": run.id, "number": run.number, "pipeline": run.pipeline, "trigger": run.trigger,
            "user": run.user or "", "branch": run.branch or "", "commit": run.commit or "",
            "commit_short": run.commit_short or "", "variables": dict(variables or {})}


def builtins(run: RunInfo, workspace: Path) -> dict[str, str]:
    return {"FLOWPLAN_RUN_ID": str(run.id), "FLOWPLAN_RUN_NUMBER": str(run.number),
            "FLOWPLAN_PIPELINE": run.pipeline, "FLOWPLAN_TRIGGER": run.trigger,
            "FLOWPLAN_USER": run.user or "", "FLOWPLAN_BRANCH": run.branch or "",
            "FLOWPLAN_COMMIT": run.commit or "", "FLOWPLAN_COMMIT_SHORT": run.commit_short or "",
            "FLOWPLAN_WORKSPACE": str(workspace)}


def step_environment(base: Mapping[str, str], pipeline_variables: Mapping[str, str],
                     run: RunInfo, workspace: Path, step_env: Mapping[str, Any],
                     output_file: Path) -> dict[str, str]:
    env = dict(base)
    env.update(pipeline_variables)
    env.update(builtins(run, workspace))
    env["FLOWPLAN_OUTPUT"] = str(output_file)
    for name, value in step_env.items():
        env[str(name)] = env_text(value)
    return env


def runtime_context(values: RunValues, run: RunInfo, step_outputs: dict[str, Any],
                    workspace: Path, config_dir: Path,
                    resources: Mapping[str, dict[str, Any]] | None = None,
                    pipeline_variables: Mapping[str, Any] | None = None) -> Any:
    """A flowplan.config.runtime.RunContext for resolving deferred values."""
    from flowplan.config.runtime import RunContext

    return RunContext(variables=dict(values.variables), sensitive=set(values.sensitive),
                      run=run_namespace(run, pipeline_variables), step_outputs=step_outputs,
                      workspace=workspace, config_dir=config_dir,
                      resources=dict(resources or {}))

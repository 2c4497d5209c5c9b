"""In-process plan/apply tests: inline HCL loaded through flowplan.engine, with MockProvider
serving the cloud resources, in the manner of Terraform's `testModuleInline` and `MockProvider`.

    mock = MockProvider()
    workspace = inline_config(tmp_path, HCL, providers=mock)
    applied = apply_all(workspace)                  # engine.apply, approved
    workspace = inline_config(tmp_path, HCL.replace(...), providers=workspace)
    plan = plan_of(workspace, targets=("acr_repository.app",))
    assert change_of(plan, "acr_repository.app").reason == "replace because name changed"
    assert 'name = "app" -> "app-v2" # forces replacement' in render_text(plan)

`inline_config` writes the files into a directory and loads them with `flowplan.engine.load`; the
state file and the store live in that directory's `.flowplan/`, so loading again (an edited config)
plans against what was applied. `MockProvider` (tests/support/recorder_provider.py) serves
`alicloud` and `github`; `pipeline`, `schedule` and `deployment_group` go through the real
`flowplan` provider into a real SQLite store. What only the `flowplan` command shows (exit codes,
the stdout/stderr split, prompts, colours, locking between processes) stays in tests/e2e.
"""

from __future__ import annotations

import json
import textwrap
import weakref
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Callable, Mapping

from flowplan import engine
from flowplan.apply import ApplyResult
from flowplan.diagnostics import Diagnostic, DiagnosticsError
from flowplan.plan.model import Plan, ResourceChange
from flowplan.plan.planner import PlanOptions
from flowplan.providers import Provider, ProviderRegistry, discover
from flowplan.state import State
from flowplan.views import (render_diagnostics, render_plan_human, render_plan_json,
                            render_plan_markdown)
from flowplan.views.progress_text import render_event
from recorder_provider import Call, MockProvider, schemas_for

__all__ = ["Applied", "Call", "InlineConfigError", "MockProvider", "actions_of", "apply_all",
           "change_of", "close_providers", "destroy_all", "inline_config", "mock_of", "plan_of",
           "render_json", "render_markdown", "render_problems", "render_text", "schemas_for",
           "state_document", "state_of"]

MOCKED = ("alicloud", "github")
_REGISTRIES: "weakref.WeakSet[ProviderRegistry]" = weakref.WeakSet()


class InlineConfigError(DiagnosticsError):
    """The inline config did not load; the message is the diagnostics as the CLI renders them."""

    def __init__(self, error: DiagnosticsError):
        super().__init__(error.diagnostics, error.texts)
        self.rendered = render_problems(error.diagnostics, error.texts)
        self.args = (self.rendered,)


def inline_config(directory: Path, files: Mapping[str, str] | str,
                  variables: dict[str, str] | None = None,
                  environ: dict[str, str] | None = None,
                  providers: MockProvider | Mapping[str, Provider] | ProviderRegistry
                  | engine.Workspace | None = None,
                  with_state: bool = True) -> engine.Workspace:
    """Write `files` ("HCL" for main.hcl, or {name: HCL}) into `directory`, dedented, removing
    the directory's other *.hcl files, and load them as flowplan.engine.load does.

    `providers`: a MockProvider serving alicloud and github (a new one when None), a mapping of
    provider names to providers, or a registry or workspace whose providers to keep (loading an
    edited config). The environment is empty unless `environ` is given. Raises
    InlineConfigError, carrying the diagnostics, when the config has errors.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    texts = {"main.hcl": files} if isinstance(files, str) else dict(files)
    for old in directory.glob("*.hcl"):
        if old.name not in texts:
            old.unlink()
    for name, text in texts.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    try:
        return engine.load(directory, variables or {}, environ or {},
                           registry=_registry(providers), with_state=with_state)
    except DiagnosticsError as error:
        raise InlineConfigError(error) from None


@cache
def _installed() -> dict[str, type]:
    return discover()


def _registry(providers) -> ProviderRegistry:
    if isinstance(providers, engine.Workspace):
        return providers.registry
    if isinstance(providers, ProviderRegistry):
        return providers
    registry = ProviderRegistry(classes=_installed(), environ={})
    if providers is None or isinstance(providers, MockProvider):
        mock = providers if providers is not None else MockProvider()
        providers = {name: mock for name in MOCKED}
    for name, provider in providers.items():
        registry.add(name, provider)
    _REGISTRIES.add(registry)
    return registry


def mock_of(workspace: engine.Workspace, name: str = "alicloud") -> MockProvider:
    """The mock serving provider `name` in the workspace."""
    provider = workspace.registry.get(name)
    assert isinstance(provider, MockProvider), f"{name} is served by {provider!r}"
    return provider


def close_providers() -> None:
    """Close the store connections of the flowplan providers made so far (a fixture's teardown)."""
    for registry in list(_REGISTRIES):
        for name in registry.names:             # the installed ones; mocks hold no connection
            close = getattr(registry.get(name), "close", None)
            if close is not None:
                close()
    _REGISTRIES.clear()


# -- plan and apply -------------------------------------------------------------------------------

def plan_of(workspace: engine.Workspace, events: list | None = None, **options: Any) -> Plan:
    """engine.plan with PlanOptions(**options), e.g. plan_of(ws, targets=("a.b",), refresh=False);
    progress events are appended to `events` when given."""
    sink = events.append if events is not None else (lambda event: None)
    return engine.plan(workspace, PlanOptions(**_tuples(options)), on_event=sink)


@dataclass
class Applied:
    """What one engine.apply did: the plan, the result (None when there was nothing to do or it
    was not confirmed), and the progress events in order."""

    plan: Plan
    result: ApplyResult | None
    events: list = field(default_factory=list)

    @property
    def progress(self) -> list[str]:
        """The events as the CLI's progress lines, e.g. `pipeline.app: Creating...`."""
        return [line for line in map(render_event, self.events) if line]

    def line_index(self, prefix: str) -> int:
        """The index of the only progress line starting with `prefix`."""
        found = [i for i, line in enumerate(self.progress) if line.startswith(prefix)]
        assert len(found) == 1, f"expected one line starting {prefix!r} in {self.progress}"
        return found[0]


def apply_all(workspace: engine.Workspace, saved: Plan | None = None,
              confirm: Callable[[Plan], bool] = lambda plan: True, ok: bool = True,
              **options: Any) -> Applied:
    """engine.apply (of `saved`, or of a plan made now with PlanOptions(**options)), approved
    unless `confirm` says otherwise. With `ok` (the default) a failed resource fails the test."""
    events: list = []
    plan, result = engine.apply(workspace, saved, PlanOptions(**_tuples(options)), confirm,
                                events.append)
    applied = Applied(plan, result, events)
    if ok and result is not None:
        assert result.ok, render_problems(result.diagnostics, workspace.config.texts)
    return applied


def destroy_all(workspace: engine.Workspace, **options: Any) -> Applied:
    return apply_all(workspace, destroy=True, **options)


def _tuples(options: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


# -- looking at plans and state -------------------------------------------------------------------

def change_of(plan: Plan, address: str) -> ResourceChange:
    found = [c for c in plan.changes if c.address == address]
    assert len(found) == 1, f"{address} is not in the plan: {[c.address for c in plan.changes]}"
    return found[0]


def actions_of(plan: Plan) -> dict[str, str]:
    """{address: action} for every change in the plan, no-ops included."""
    return {c.address: c.action.value for c in plan.changes}


def state_of(workspace: engine.Workspace) -> State:
    return workspace.backend.read()


def state_document(workspace: engine.Workspace) -> dict:
    """The state file as JSON."""
    return json.loads(workspace.backend.path.read_text(encoding="utf-8"))


# -- renderings, as the CLI prints them without colour --------------------------------------------

def render_text(plan: Plan) -> str:
    return render_plan_human(plan, False)


def render_json(plan: Plan) -> dict:
    return json.loads(render_plan_json(plan))


def render_markdown(plan: Plan) -> str:
    return render_plan_markdown(plan)


def render_problems(diagnostics: list[Diagnostic] | Any, texts: Mapping[str, str] | None = None
                    ) -> str:
    """Diagnostics as the CLI renders them, in file order, without colour."""
    items = diagnostics.sorted() if hasattr(diagnostics, "sorted") else list(diagnostics)
    return render_diagnostics(items, texts or {}, False)

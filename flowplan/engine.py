"""Core entry points that the CLI and the server call: load, validate, plan, apply, destroy, state
edits.

Each function does one whole operation: it loads the config, opens the state backend named in
the `flowplan {}` block, takes the state lock when it will write, and returns data (a Config, a
Plan, an ApplyResult). User mistakes are raised as DiagnosticsError carrying every diagnostic;
a held lock as StateLockedError; a stale saved plan as StalePlanError. Nothing here prints:
progress goes to `on_event`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from flowplan.apply import ApplyResult, StalePlanError, apply_plan, check_fresh
from flowplan.config.loader import Config, StateLookupFactory, load_config
from flowplan.diagnostics import Diagnostics, DiagnosticsError
from flowplan.events import EventSink, ignore
from flowplan.plan.model import Plan
from flowplan.plan.planner import PlanOptions, make_plan, validate_resources
from flowplan.providers import ProviderRegistry
from flowplan.state import LocalStateBackend, State, StateError
from flowplan.values import to_markers

__all__ = ["Workspace", "load", "validate", "plan", "apply", "StalePlanError"]


@dataclass
class Workspace:
    """A loaded config with its state backend and providers."""

    config: Config
    backend: LocalStateBackend
    registry: ProviderRegistry

    @property
    def directory(self) -> Path:
        return self.config.directory


def load(directory: Path | str, variables: dict[str, str] | None = None,
         environ: dict[str, str] | None = None, registry: ProviderRegistry | None = None,
         with_state: bool = True, for_run: bool = False) -> Workspace:
    """Load the config (raising DiagnosticsError on any error) and open its state backend.

    Warnings stay in `workspace.config.diagnostics`. With `for_run`, a step whose step-type plugin
    failed to load is a warning rather than an error: the run fails that step alone.
    """
    directory = Path(directory)
    registry = registry or ProviderRegistry()
    lookup = StateLookupFactory(lambda settings: _state_lookup(backend_for(directory, settings))) \
        if with_state else None
    config = load_config(directory, variables, environ, state_attributes=lookup,
                         registry=registry)
    if for_run:
        config.diagnostics = _broken_steps_as_warnings(config.diagnostics)
    if config.diagnostics.has_errors:
        raise DiagnosticsError(config.diagnostics, config.texts)
    backend = backend_for(directory, config.settings)
    return Workspace(config, backend, registry)


def validate(directory: Path | str, variables: dict[str, str] | None = None,
             environ: dict[str, str] | None = None,
             registry: ProviderRegistry | None = None) -> Workspace:
    """`flowplan validate`: load the config, then have each resource's provider validate it
    offline (no state, no store, no network: providers are not even configured).

    Raises DiagnosticsError when anything is wrong; the returned workspace's config holds the
    warnings, the providers' included.
    """
    workspace = load(directory, variables, environ, registry, with_state=False)
    config = workspace.config
    found = validate_resources(config, workspace.registry)
    config.diagnostics.extend(found)
    if found.has_errors:
        raise DiagnosticsError(config.diagnostics, config.texts)
    return workspace


def _broken_steps_as_warnings(diagnostics: Diagnostics) -> Diagnostics:
    from dataclasses import replace

    from flowplan.config.steps import STEP_PLUGIN_FAILED
    from flowplan.diagnostics import Severity

    return Diagnostics([replace(d, severity=Severity.WARNING) if d.summary == STEP_PLUGIN_FAILED
                        else d for d in diagnostics])


def backend_for(directory: Path, settings: dict | None) -> LocalStateBackend:
    state_settings = (settings or {}).get("state") or {}
    backend = state_settings.get("backend", "local")
    if backend != "local":
        raise DiagnosticsError([_diagnostic(
            f'State backend "{backend}" is not available yet',
            'Use backend = "local" in the flowplan { state { ... } } block.')])
    path = Path(state_settings.get("path") or ".flowplan/state.json")
    return LocalStateBackend(path if path.is_absolute() else directory / path)


def _diagnostic(summary: str, detail: str):
    diagnostics = Diagnostics()
    diagnostics.error(summary, detail)
    return diagnostics.items[0]


def _state_lookup(backend: LocalStateBackend) -> Callable[[str], dict | None]:
    cache: dict[str, State] = {}

    def lookup(address: str) -> dict | None:
        if "state" not in cache:
            try:
                cache["state"] = backend.read()
            except StateError:
                cache["state"] = State()
        recorded = cache["state"].get(address)
        return recorded.attributes if recorded else None
    return lookup


def plan(workspace: Workspace, options: PlanOptions = PlanOptions(),
         on_event: EventSink = ignore, lock: bool = True) -> Plan:
    """A plan of the config against the state; raises DiagnosticsError on mistakes."""
    if lock:
        with workspace.backend.lock("plan"):
            return _plan(workspace, options, on_event)
    return _plan(workspace, options, on_event)


def _plan(workspace: Workspace, options: PlanOptions, on_event: EventSink) -> Plan:
    state = workspace.backend.read()
    result, diagnostics = make_plan(workspace.config, state, workspace.registry, options,
                                    on_event)
    if result is None:
        raise DiagnosticsError(diagnostics, workspace.config.texts)
    return result


def apply(workspace: Workspace, saved: Plan | None = None,
          options: PlanOptions = PlanOptions(),
          confirm: Callable[[Plan], bool] = lambda plan: True,
          on_event: EventSink = ignore) -> tuple[Plan, ApplyResult | None]:
    """Apply a saved plan, or plan now and apply once `confirm(plan)` says yes.

    Returns the plan and the result (None when there was nothing to do or it was not confirmed).
    The state lock is held from reading the state to the last write.
    """
    with workspace.backend.lock("apply"):
        state = workspace.backend.read()
        if saved is not None:
            check_fresh(saved, state, workspace.backend.path.exists())
            the_plan = saved
        else:
            the_plan, diagnostics = make_plan(workspace.config, state, workspace.registry,
                                              options, on_event)
            if the_plan is None:
                raise DiagnosticsError(diagnostics, workspace.config.texts)
            check_fresh(the_plan, state, workspace.backend.path.exists())
        if not the_plan.has_changes or not confirm(the_plan):
            return the_plan, None
        parallelism = options.parallelism
        result = apply_plan(the_plan, workspace.config, state, workspace.backend,
                            workspace.registry, parallelism, on_event)
        return the_plan, result


def remove_from_state(workspace: Workspace, address: str) -> bool:
    """`state rm`: forget a resource without destroying it."""
    with workspace.backend.lock("state rm"):
        state = workspace.backend.read()
        if state.remove(address) is None:
            return False
        workspace.backend.write(state)
        return True


# -- runs -------------------------------------------------------------------------------------

@dataclass
class RunSetup:
    """What a command about runs needs: the run service and the config's variable values."""

    service: Any
    variables: dict[str, Any]
    sensitive: set[str]


def open_run_service(directory: Path | str, config: Config | None = None) -> Any:
    """The run service for commands that need no variable values (runs, logs, cancel, secrets,
    roles): only the `flowplan {}` settings must be right."""
    from flowplan.executor.service import RunService
    from flowplan.executor.settings import ExecutorSettings
    from flowplan.store import Store

    directory = Path(directory)
    if config is None:
        config = load_config(directory)
        problems = [d for d in config.diagnostics if d.address == "flowplan"
                    and d.severity.value == "error"]
        if problems:
            raise DiagnosticsError(problems, config.texts)
    store = Store.open(config.settings.get("store") or "sqlite:///.flowplan/flowplan.db",
                       config.directory)
    try:
        resources = {r.address: r.attributes for r in backend_for(directory, config.settings).read()}
    except StateError:
        resources = {}
    settings = ExecutorSettings.from_config(config.directory, config.settings)
    service = RunService(store, settings, resources=resources,
                         config_values={"locals": config.locals, "sources": config.sources})
    service.mark_interrupted()      # runs whose process died are `interrupted`, ready to resume
    return service


def stored_secret_values(directory: Path | str, environ: dict[str, str] | None = None
                         ) -> dict[str, str]:
    """Values for the config's sensitive variables from secrets kept in the store under the
    same names (`flowplan secret set NAME`); empty when FLOWPLAN_SECRET_KEY is not set."""
    import os

    from flowplan.config.files import config_files, parse_sources, read_sources
    from flowplan.executor.secrets import SecretBox, SecretError

    directory = Path(directory)
    environ = dict(os.environ) if environ is None else environ
    if not environ.get("FLOWPLAN_SECRET_KEY"):
        return {}
    sensitive = set()
    for syntax in parse_sources(read_sources(config_files(directory)), directory):
        for block in syntax.body.blocks:
            flag = block.body.attributes.get("sensitive")
            if block.type == "variable" and block.labels and flag is not None \
                    and flag.source.strip() == "true":
                sensitive.add(block.labels[0])
    if not sensitive:
        return {}
    service = open_run_service(directory)
    names = sensitive.intersection(service.store.secret_names())
    if not names:
        return {}
    try:
        box = SecretBox.from_environment(environ)
        return {name: box.decrypt(service.store.get_secret_token(name)) for name in names}
    except SecretError:
        return {}


def run_setup(workspace: Workspace) -> RunSetup:
    """Open the store and the run service for a loaded config.

    Deferred pipeline values (run.*, var.*, secrets) are resolved at run time against the
    config's variables, locals and sources and the state's resource attributes, so the service
    gets all of them; sensitive variable values are handed over in memory only.
    """
    config = workspace.config
    service = open_run_service(config.directory, config)
    service.expire_approvals()      # approvals past their timeout fail, as if rejected
    variables = {name: value.value for name, value in config.variables.items()}
    sensitive = {name for name, value in config.variables.items() if value.sensitive}
    return RunSetup(service, variables, sensitive)


def pipeline_to_run(workspace: Workspace, service: Any, name: str) -> dict:
    """The definition of pipeline `name`: from the config, else the copy registered in the store."""
    resource = workspace.config.resources.get(f"pipeline.{name}")
    if resource is not None:
        return to_markers(resource.attributes)
    record = service.store.get_pipeline(name)
    if record is not None:
        return record.definition
    declared = sorted(a.split(".", 1)[1] for a in workspace.config.resources
                      if a.startswith("pipeline."))
    raise DiagnosticsError([_diagnostic(
        f'No pipeline named "{name}"',
        f"Pipelines in the config: {', '.join(declared) or 'none'}.")])

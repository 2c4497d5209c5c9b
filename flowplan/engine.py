"""Core entry points that the CLI and the server call: load, validate, plan, apply, destroy, state
edits.

Each function does one whole operation: it loads the config, opens the state backend named in
the `flowplan {}` block, takes the state lock when it will write, and returns data (a Config, a
Plan, an ApplyResult). User mistakes are raised as DiagnosticsError carrying every diagnostic;
a held lock as StateLockedError; a stale saved plan as StalePlanError. Nothing here prints:
progress goes to `on_event`.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from flowplan import teams
from flowplan.apply import ApplyResult, StalePlanError, apply_plan, check_fresh
from flowplan.config.loader import Config, StateLookupFactory, load_config
from flowplan.diagnostics import Diagnostics, DiagnosticsError
from flowplan.events import EventSink, ignore
from flowplan.plan.model import Plan
from flowplan.plan.planner import PlanOptions, make_plan, validate_resources
from flowplan.providers import ProviderRegistry
from flowplan.state import LocalStateBackend, State, StateError
from flowplan.state.pg import PgStateBackend
from flowplan.state.waiting import lock_within

StateBackend = LocalStateBackend | PgStateBackend
from flowplan.config.pipeline import DEFINITION_VERSION
from flowplan.config.runtime import variables_used
from flowplan.values import contains_unknown, to_markers

__all__ = ["Workspace", "load", "validate", "plan", "apply", "import_resource", "Imported",
           "StalePlanError"]


@dataclass
class Workspace:
    """A loaded config with its state backend and providers."""

    config: Config
    backend: StateBackend
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
    team = team_of(directory, environ)
    lookup = StateLookupFactory(
        lambda settings: _state_lookup(backend_for(directory, settings, team))) \
        if with_state else None
    with _no_cyclic_gc():
        config = load_config(directory, variables, environ, state_attributes=lookup,
                             registry=registry, team=team)
    if for_run:
        config.diagnostics = _broken_steps_as_warnings(config.diagnostics)
    if config.diagnostics.has_errors:
        raise DiagnosticsError(config.diagnostics, config.texts)
    backend = backend_for(directory, config.settings, config.team)
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


def team_of(directory: Path, environ: dict[str, str] | None = None) -> str:
    """The selected team (flowplan.teams.selected_team); DiagnosticsError when the selection
    names none here: nothing is read or written for another team instead."""
    try:
        return teams.selected_team(directory, environ)
    except teams.TeamError as error:
        raise DiagnosticsError([_diagnostic("Unknown team", str(error))]) from None


def backend_for(directory: Path, settings: dict | None,
                team: str = teams.DEFAULT_TEAM) -> StateBackend:
    """The state backend of `team` that the `flowplan { state {} }` settings name: `local`
    (the default) at its `path`, with `~` expanded and taken from `directory` when relative
    (another team's file is `teams/NAME/` beside it: `.flowplan/teams/NAME/state.json`); `pg`
    at its `url` (or $FLOWPLAN_STATE_URL), the team's row. Both offer read, write, exists,
    lock, lock_info, force_unlock."""
    state_settings = (settings or {}).get("state") or {}
    backend = state_settings.get("backend", "local")
    if backend == "pg":
        from flowplan.state.pg import url_from
        try:
            return PgStateBackend(url_from(state_settings.get("url")), team=team)
        except StateError as error:
            raise DiagnosticsError([_diagnostic("Invalid pg state backend", str(error))]) from None
    if backend != "local":
        raise DiagnosticsError([_diagnostic(
            f'Unknown state backend "{backend}"',
            'Use backend = "local" or backend = "pg" in the flowplan { state { ... } } block.')])
    return local_backend_for(directory, settings, team)


def local_backend_for(directory: Path, settings: dict | None,
                      team: str = teams.DEFAULT_TEAM) -> LocalStateBackend:
    """The local state file of `team` the settings' `path` names (whatever the backend), for
    migrate: the path itself for `default`, `teams/NAME/` beside it for team NAME."""
    state_settings = (settings or {}).get("state") or {}
    path = Path(state_settings.get("path") or ".flowplan/state.json").expanduser()
    path = path if path.is_absolute() else directory / path
    if team != teams.DEFAULT_TEAM:
        path = path.parent / "teams" / teams.check_name(team) / path.name
    return LocalStateBackend(path)


@dataclass(frozen=True)
class Migrated:
    """What `migrate_state` copied: from where, to where, and the state's serial and size."""

    source: str
    target: str
    serial: int
    lineage: str
    resources: int
    replaced: bool          # the target had a state, replaced because of --force


def migrate_state(directory: Path, settings: dict | None, force: bool = False,
                  source_path: Path | None = None, lock_timeout: float = 0.0,
                  on_event: EventSink = ignore, team: str = teams.DEFAULT_TEAM) -> Migrated:
    """`flowplan state migrate`: copy the local state file into the configured pg backend,
    serial and lineage kept, both locked meanwhile; the local file stays. Refuses when the
    target already has a state, unless `force`."""
    target = backend_for(directory, settings, team)
    if not isinstance(target, PgStateBackend):
        raise StateError('state migrate copies the local state into a database: configure '
                         'backend = "pg" with its url in the flowplan { state { ... } } block first')
    source = (LocalStateBackend(source_path) if source_path is not None
              else local_backend_for(directory, settings, team))
    with lock_within(source, "state migrate", on_event, lock_timeout), \
            lock_within(target, "state migrate", on_event, lock_timeout):
        if not source.exists():
            raise StateError(f"there is no local state to migrate: {source.path} does not exist")
        state = source.read()
        replaced = target.exists()
        if replaced and not force:
            existing = target.read()
            raise StateError(
                f"{target.path} already has a state (serial {existing.serial}, lineage "
                f"{existing.lineage}, {len(existing)} resources). Nothing was copied; use "
                "flowplan state migrate --force to replace it with the local state.")
        target.replace(state)
    return Migrated(str(source.path), target.path, state.serial, state.lineage, len(state),
                    replaced)


def _diagnostic(summary: str, detail: str):
    diagnostics = Diagnostics()
    diagnostics.error(summary, detail)
    return diagnostics.items[0]


def read_once(backend: StateBackend) -> State:
    """The state, for one look: the backend's connections (pg) are let go of afterwards, so a
    server preparing many runs does not keep a pool per preparation."""
    try:
        return backend.read()
    finally:
        close = getattr(backend, "close", None)
        if close is not None:
            close()


def _state_lookup(backend: StateBackend) -> Callable[[str], dict | None]:
    cache: dict[str, State] = {}

    def lookup(address: str) -> dict | None:
        if "state" not in cache:
            try:
                cache["state"] = read_once(backend)
            except StateError:
                cache["state"] = State()
        recorded = cache["state"].get(address)
        return recorded.attributes if recorded else None
    return lookup


def plan(workspace: Workspace, options: PlanOptions = PlanOptions(),
         on_event: EventSink = ignore, lock: bool = True, lock_timeout: float = 0.0) -> Plan:
    """A plan of the config against the state; raises DiagnosticsError on mistakes.
    `lock_timeout`: seconds to wait for a held state lock (0: fail at once)."""
    if lock:
        with lock_within(workspace.backend, "plan", on_event, lock_timeout):
            return _plan(workspace, options, on_event)
    return _plan(workspace, options, on_event)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Loading and planning allocate millions of small objects and free few cycles: pausing the
    cyclic garbage collector meanwhile saves about a fifth of a large plan's time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _plan(workspace: Workspace, options: PlanOptions, on_event: EventSink) -> Plan:
    state = workspace.backend.read()
    with _no_cyclic_gc():
        result, diagnostics = make_plan(workspace.config, state, workspace.registry, options,
                                    on_event)
    if result is None:
        raise DiagnosticsError(diagnostics, workspace.config.texts)
    return result


def apply(workspace: Workspace, saved: Plan | None = None,
          options: PlanOptions = PlanOptions(),
          confirm: Callable[[Plan], bool] = lambda plan: True,
          on_event: EventSink = ignore,
          lock_timeout: float = 0.0) -> tuple[Plan, ApplyResult | None]:
    """Apply a saved plan, or plan now and apply once `confirm(plan)` says yes.

    Returns the plan and the result (None when there was nothing to do or it was not confirmed).
    The state lock is held from reading the state to the last write; a held lock is waited for
    up to `lock_timeout` seconds (0: fail at once).
    """
    with lock_within(workspace.backend, "apply", on_event, lock_timeout):
        state = workspace.backend.read()
        if saved is not None:
            check_fresh(saved, state, workspace.backend.exists())
            the_plan = saved
        else:
            the_plan, diagnostics = make_plan(workspace.config, state, workspace.registry,
                                              options, on_event)
            if the_plan is None:
                raise DiagnosticsError(diagnostics, workspace.config.texts)
            check_fresh(the_plan, state, workspace.backend.exists())
        if not the_plan.has_changes or not confirm(the_plan):
            return the_plan, None
        parallelism = options.parallelism
        result = apply_plan(the_plan, workspace.config, state, workspace.backend,
                            workspace.registry, parallelism, on_event)
        return the_plan, result


def remove_from_state(workspace: Workspace, address: str, lock_timeout: float = 0.0) -> bool:
    """`state rm`: forget a resource without destroying it."""
    with lock_within(workspace.backend, "state rm", timeout=lock_timeout):
        state = workspace.backend.read()
        if state.remove(address) is None:
            return False
        workspace.backend.write(state)
        return True


@dataclass(frozen=True)
class Imported:
    """What `import_resource` wrote into the state: the address, the id it was imported from,
    the recorded resource (attributes with markers), the provider's warnings and the state's new
    serial."""

    address: str
    id: str
    resource: Any                          # flowplan.state.ResourceState
    warnings: tuple[str, ...]
    serial: int

    @property
    def attributes(self) -> dict:
        return self.resource.attributes


def import_resource(workspace: Workspace, address: str, id: str,
                    on_event: EventSink = ignore, lock_timeout: float = 0.0) -> Imported:
    """`flowplan import ADDR ID`: read the real object `id` through the provider serving the
    block at `address` and record it in the state, as if apply had made it.

    The block must be in the config (its provider, dependencies and flowplan-only attributes come
    from there) and not in the state yet (`flowplan state rm` first). The state lock is held from
    reading the state to writing it; the serial goes up by one. Mistakes and the provider's
    errors are raised as DiagnosticsError; nothing is written then.
    """
    from flowplan.plan.planner import configure_providers
    from flowplan.providers import ImportRequest
    from flowplan.state import ResourceState

    config = workspace.config
    resource = config.resources.get(address)
    if resource is None:
        declared = sorted(config.resources)
        hint = (f" Resources in the config: {', '.join(declared[:20])}"
                f"{', ...' if len(declared) > 20 else ''}." if declared else "")
        raise DiagnosticsError([_diagnostic(
            f"{address} is not in the config",
            f"Write the block first (for example `{_block_example(address)}`), then import "
            f"into it: the config says which provider serves it and what flowplan adds.{hint}")],
            config.texts)
    if not id or not id.strip() or any(ord(c) < 32 for c in id):
        raise DiagnosticsError([_diagnostic("Invalid import id",
                                            f"{id!r} is not an id of a real object.")])
    with lock_within(workspace.backend, "import", on_event, lock_timeout):
        state = workspace.backend.read()
        if address in state:
            raise DiagnosticsError([_diagnostic(
                f"{address} is already managed",
                f"The state already records {address}; `flowplan state rm {address}` first to "
                "import another object into it.")], config.texts)
        diagnostics = Diagnostics()
        providers = configure_providers(config, workspace.registry, [resource.provider],
                                        diagnostics)
        if diagnostics.has_errors:
            raise DiagnosticsError(diagnostics, config.texts)
        provider = providers[resource.provider]
        response = provider.import_resource(ImportRequest(
            resource.type, resource.name, id, to_markers(resource.attributes)))
        errors = [d for d in response.diagnostics if d.severity == "error"]
        for problem in errors:
            diagnostics.error(problem.summary, problem.detail, resource.range, address=address)
        if not errors and response.state is None:
            diagnostics.error(f"Cannot import {address}",
                              f"The {resource.provider} provider found no object {id!r}.",
                              resource.range, address=address)
        if diagnostics.has_errors:
            raise DiagnosticsError(diagnostics, config.texts)
        configured = to_markers(resource.attributes)
        attributes = _sensitive_as_markers(response.state, configured,
                                           _sensitive_of(workspace, resource))
        recorded = ResourceState(address, resource.type, resource.name, resource.provider,
                                 attributes, list(resource.dependencies))
        state.set(recorded)
        workspace.backend.write(state)
        warnings = tuple(f"{d.summary}: {d.detail}" if d.detail else d.summary
                         for d in response.diagnostics if d.severity != "error")
        return Imported(address, id, recorded, warnings, state.serial)


def _block_example(address: str) -> str:
    type_, _, name = address.partition(".")
    return f'{type_} "{name or "NAME"}" {{ ... }}'


def _sensitive_of(workspace: Workspace, resource: Any) -> tuple[str, ...]:
    schema = workspace.registry.schema(resource.provider)
    found = schema.resource(resource.type) if schema is not None else None
    return found.sensitive if found is not None else ()


def _sensitive_as_markers(attributes: dict, configured: dict,
                          sensitive: tuple[str, ...]) -> dict:
    """The imported attributes with every clear value where the config has a sensitive value,
    or of an attribute the provider calls sensitive, turned into a marker: the state never
    holds a secret in clear, whatever a provider hands back. A value equal to the config's keeps
    the config's marker, so the next plan shows no change for it."""
    from flowplan.values import Sensitive, is_sensitive_marker

    def hide(value: Any, config: Any, always: bool) -> Any:
        if value is None or is_sensitive_marker(value):
            return value
        if always or is_sensitive_marker(config):
            return to_markers(Sensitive(value), config)
        if isinstance(value, dict) and isinstance(config, dict):
            return {k: hide(v, config.get(k), False) for k, v in value.items()}
        if isinstance(value, list) and isinstance(config, list):
            return [hide(v, config[i] if i < len(config) else None, False)
                    for i, v in enumerate(value)]
        return value

    return {key: hide(value, configured.get(key), key in sensitive)
            for key, value in attributes.items()}


# -- runs -------------------------------------------------------------------------------------

def open_run_service(directory: Path | str, config: Config | None = None) -> Any:
    """The run service for commands that need no variable values (runs, logs, cancel, secrets,
    roles): only the `flowplan {}` settings must be right."""
    from flowplan.executor.service import RunService
    from flowplan.executor.settings import ExecutorSettings
    from flowplan.executor.targets import run_targets

    directory = Path(directory)
    if not directory.is_dir():      # else a mistyped -C would get a store made there
        raise DiagnosticsError([_diagnostic("No such config directory",
                                            f"{directory} is not a directory.")])
    if config is None:
        config = load_config(directory)
        problems = [d for d in config.diagnostics if d.address == "flowplan"
                    and d.severity.value == "error"]
        if problems:
            raise DiagnosticsError(problems, config.texts)
    store = open_store(config)
    try:
        resources = {r.address: r.attributes
                     for r in read_once(backend_for(directory, config.settings, config.team))}
    except StateError:
        resources = {}
    settings = ExecutorSettings.from_config(config.directory, config.settings)
    targets = run_targets(resources, config, config.settings.get("artifact_url"))
    service = RunService(store, settings, resources=resources, targets=targets)
    service.mark_interrupted()      # runs whose process died are `interrupted`, ready to resume
    return service


def open_store(config: Config, team: str | None = None) -> Any:
    """The store the config's settings name, scoped to `team` (default: the config's)."""
    from flowplan.store import Store

    return Store.open(config.settings.get("store") or "sqlite:///.flowplan/flowplan.db",
                      config.directory, team=team if team is not None else config.team)


@dataclass(frozen=True)
class TeamDeleted:
    """What `delete_team` removed: the team's state (and how many resources it held), its
    runs in the store."""

    team: str
    resources: int
    runs: int


def delete_team(directory: Path | str, team: str, *, force: bool = False,
                environ: dict[str, str] | None = None) -> TeamDeleted:
    """`flowplan team delete`: remove team `team` here: its state (local file and directory,
    or its pg row), its rows in the store (runs with everything they hold, pipelines,
    schedules, deployment groups, cache entries, deliveries, secrets, roles, memberships), its
    runs' workspaces, artifacts and caches on this machine, and its directory.

    Refuses (TeamError) team `default`, the selected team, and, unless `force`, a team whose
    state holds resources or whose store holds runs. The team's state lock is held meanwhile,
    so an `apply` of that team waits or fails instead of writing into a deleted team.
    """
    import shutil

    directory = Path(directory)
    teams.check_name(team)
    if team == teams.DEFAULT_TEAM:
        raise teams.TeamError("team default cannot be deleted: it is the layout of every "
                              "config directory (.flowplan/state.json, the store's first rows)")
    if not teams.team_exists(directory, team):
        raise teams.TeamError(f"there is no team {team!r} in {directory} (`flowplan team list`)")
    if teams.selected_team(directory, environ, must_exist=False) == team:
        raise teams.TeamError(f"team {team!r} is the selected team: select another first "
                              "(`flowplan team select default`, or unset $FLOWPLAN_TEAM)")
    config = load_config(directory, team=team)
    problems = [d for d in config.diagnostics.errors if d.address == "flowplan"]
    if problems:
        raise DiagnosticsError(problems, config.texts)
    backend = backend_for(directory, config.settings, team)
    with backend.lock(f"team delete {team}"):
        resources = len(backend.read()) if backend.exists() else 0
        with open_store(config, team) as store:
            runs = store.count_team_runs(team)
            if (resources or runs) and not force:
                held = " and ".join(part for part in (
                    f"{resources} resources in its state" if resources else "",
                    f"{runs} runs in the store" if runs else "") if part)
                raise teams.TeamError(
                    f"team {team!r} still has {held}: destroy them first (`FLOWPLAN_TEAM={team} "
                    f"flowplan destroy`), or delete it with all it holds: "
                    f"`flowplan team delete {team} --force`")
            runs = store.forget_team(team)
        if isinstance(backend, PgStateBackend):
            backend.drop()
    from flowplan.executor.settings import ExecutorSettings

    executor = ExecutorSettings.from_config(config.directory, config.settings)
    for root in (executor.workspace_dir, executor.artifacts_dir, executor.cache_dir):
        shutil.rmtree(root / ".teams" / team, ignore_errors=True)   # its runs' files (layout)
    shutil.rmtree(teams.team_directory(directory, team), ignore_errors=True)
    return TeamDeleted(team, resources, runs)


class RunRefused(Exception):
    """A run that cannot start (or continue) as asked; the message says what to do instead."""


APPLIED, WORKING_COPY = "applied", "working_copy"


@dataclass(frozen=True)
class PreparedRun:
    """What `flowplan run` starts: the definition (the applied one unless `--from-config`),
    which one it is, notes for the person (one line each), and the values it resolved."""

    service: Any
    pipeline: str
    definition: dict
    origin: str                            # APPLIED or WORKING_COPY
    notes: tuple[str, ...]
    variables: dict[str, Any]              # sensitive `var.*` values, resolved now
    sensitive: frozenset[str]


def prepare_run(directory: Path | str, pipeline: str, *, from_config: bool = False,
                pipeline_variables: dict[str, str] | None = None,
                environ: dict[str, str] | None = None) -> PreparedRun:
    """The definition of `pipeline` to run and the values it needs.

    The registered (applied) definition runs, as schedules and webhooks run it; the working
    copy is loaded to say when it differs (or does not load), and runs instead with
    `from_config`. `pipeline_variables` (`run --var`) set the pipeline's `variables`. Sensitive
    variables the definition refers to are resolved now (RunRefused when one has no value).
    """
    import json
    import os

    directory = Path(directory)
    environ = dict(os.environ) if environ is None else environ
    team = team_of(directory, environ)
    lookup = StateLookupFactory(
        lambda settings: _state_lookup(backend_for(directory, settings, team)))
    config = load_config(directory, environ=environ, state_attributes=lookup, team=team)
    # a step whose step-type plugin failed to load fails alone when the run reaches it
    config.diagnostics = _broken_steps_as_warnings(config.diagnostics)
    settings_problems = [d for d in config.diagnostics.errors if d.address == "flowplan"]
    if settings_problems:
        raise DiagnosticsError(settings_problems, config.texts)
    service = open_run_service(directory, config)
    address = f"pipeline.{pipeline}"
    broken = config.diagnostics.has_errors
    resource = None if broken else config.resources.get(address)
    notes: list[str] = []
    if from_config:
        if broken:
            raise DiagnosticsError(config.diagnostics, config.texts)
        if resource is None:
            raise RunRefused(f"{address} is not in the config in {directory}"
                             f"{_pipelines_hint(config)}")
        definition = to_markers(resource.attributes)
        if contains_unknown(definition):
            raise RunRefused(f"{address} refers to values known only after apply (an id, a "
                             "URL): run `flowplan apply` first")
        origin = WORKING_COPY
    else:
        record = service.store.get_pipeline(pipeline)
        if record is None:
            if resource is None and not broken:     # neither applied nor in the config
                raise RunRefused(f'No pipeline named "{pipeline}"{_pipelines_hint(config)}')
            raise RunRefused(
                f"{address} has not been applied: run `flowplan apply` to register it, or "
                f"`flowplan run {pipeline} --from-config` to try the working copy without "
                f"applying{_pipelines_hint(config)}")
        definition = record.definition
        origin = APPLIED
        if broken:
            count = len(config.diagnostics.errors)
            notes.append(f"note: the config in {directory} does not load ({count} error"
                         f"{'s' if count != 1 else ''}; flowplan validate shows them); running "
                         f"the applied definition of {address}")
        elif resource is None:
            notes.append(f"note: {address} is no longer in the config; running its applied "
                         "definition (flowplan apply removes it)")
        elif json.loads(json.dumps(to_markers(resource.attributes))) != definition:
            notes.append(f"note: {address} differs from its applied definition; running the "
                         "applied one (flowplan plan shows the difference; --from-config runs "
                         "the working copy)")
    if definition.get("version", 1) < DEFINITION_VERSION:
        raise RunRefused(f"{address} was applied by an older flowplan (definition version "
                         f"{definition.get('version', 1)}); run `flowplan apply` to register "
                         "it again")
    definition = _with_pipeline_variables(definition, address, pipeline_variables or {},
                                          config)
    variables = resolve_secrets(directory, variables_used(definition), service.store, environ)
    return PreparedRun(service, pipeline, definition, origin, tuple(notes), variables,
                       frozenset(variables))


def _pipelines_hint(config: Config) -> str:
    names = sorted(a.split(".", 1)[1] for a in config.resources if a.startswith("pipeline."))
    return f" (pipelines in the config: {', '.join(names)})" if names else ""


def _with_pipeline_variables(definition: dict, address: str, given: dict[str, str],
                             config: Config) -> dict:
    """The definition with `run --var` values for its pipeline variables; a name that is only a
    config variable, or nothing, is refused."""
    declared = dict(definition.get("variables") or {})
    for name in given:
        if name in declared:
            continue
        if name in _declared_variable_names(config):
            raise RunRefused(
                f"--var {name}=...: var.{name} is a config variable, fixed when the plan is "
                f"made; change its value (default, *.auto.fpvars or FP_VAR_{name}) and run "
                f"`flowplan apply`, or declare a pipeline variable `variables = {{ {name} = "
                f"... }}` in {address} to set it per run")
        known = ", ".join(sorted(declared)) or "none"
        raise RunRefused(f"--var {name}=...: {address} has no pipeline variable \"{name}\" "
                         f"(its variables: {known})")
    if not given:
        return definition
    return {**definition, "variables": {**declared, **given}}


def _declared_variable_names(config: Config) -> set[str]:
    from flowplan.config.files import config_files, parse_sources, read_sources

    names = set(config.variables)
    try:
        sources = read_sources(config_files(config.directory))
    except OSError:
        return names
    for syntax in parse_sources(sources, config.directory):
        names.update(b.labels[0] for b in syntax.body.blocks if b.type == "variable" and b.labels)
    return names


def resolve_secrets(directory: Path | str, names: set[str], store: Any,
                    environ: dict[str, str]) -> dict[str, Any]:
    """Values of the sensitive variables `names`, resolved without a person: the variable's
    default, `*.auto.fpvars`, a store secret of the same name (`flowplan secret set`), then
    FP_VAR_NAME, later winning. RunRefused names a variable without a value, or a store secret
    that cannot be decrypted."""
    if not names:
        return {}
    from flowplan.config.loader import load_variables
    from flowplan.config.variables import ENV_PREFIX
    from flowplan.executor.secrets import SecretError, open_store_secrets

    stored = names.intersection(store.secret_names())
    try:
        secrets = open_store_secrets({name: token for name in stored
                                      if (token := store.get_secret_token(name)) is not None},
                                     environ)
    except SecretError as exc:
        raise RunRefused(str(exc)) from None
    values, declared, problems = load_variables(directory, names, secrets, environ)
    if problems.has_errors:
        raise RunRefused("; ".join(f"{d.summary}: {d.detail}" for d in problems.errors))
    resolved: dict[str, Any] = {name: value.value for name, value in values.items()}
    for name in sorted(names - set(resolved)):
        if name in declared:
            raise RunRefused(
                f"var.{name} is sensitive and has no value: set it with `flowplan secret set "
                f"{name}` (kept encrypted in the store, read by every run), {ENV_PREFIX}{name}, "
                "a *.auto.fpvars file or a default")
        # No longer declared in the working copy: a secret or FP_VAR_ still gives it as text.
        text = environ.get(f"{ENV_PREFIX}{name}", secrets.get(name))
        if text is None:
            raise RunRefused(f"var.{name} (sensitive) has no value and is not declared in the "
                             f"config: set it with `flowplan secret set {name}` or "
                             f"{ENV_PREFIX}{name}")
        resolved[name] = text
    return resolved


def continue_values(service: Any, run: str, directory: Path | str,
                    environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The sensitive values a continued run needs, resolved again as when it started; the run
    service refuses to continue when one no longer matches what the run started with."""
    import os

    from flowplan.values import is_sensitive_marker

    environ = dict(os.environ) if environ is None else environ
    record = service.get(run)
    names = variables_used(record.definition) | {
        name for name, value in (record.variables or {}).items() if is_sensitive_marker(value)}
    return resolve_secrets(directory, names, service.store, environ)

"""What a running server holds: `ServerContext` (the config directory, its `flowplan {}`
settings, the run service and store, the launcher, the authenticator, the applied webhooks and
the periodic jobs), built once by `ServerContext.load` and reached by routers as
`request.app.state.context`.

Webhooks (`HookTargets`) are read from the applied state, as a run reads deployment groups: each
`webhook.NAME` resource gives its provider (`github` or `git`), the pipeline it starts (the state
holds `pipeline.X`), its filters (`events`, `branches`, `tags`, `paths`), the pipeline
`variables` it sets and its `repository` (`owner/name` for GitHub, a path on disk for git). The
state holds the secret only as a `$sensitive` digest; the clear secret is the config's, evaluated
now, and is used only when it hashes to that digest (the rule of flowplan.executor.targets): a
secret changed in the config but not applied, or a config that no longer loads, refuses that
hook's deliveries (503, saying to apply) rather than checking signatures against a secret GitHub
was never given. The secret lives in this process only: never logged, never in a `repr`. When the
state changes (an apply while the server runs: the backend's `stamp`, a `stat` of the local file
or one query of the pg row's serial and lineage) or a config file does, the webhooks are read
again at the next delivery.

A `git` webhook is matched against its applied `git_dir` (the repository's git directory, as the
git provider resolved it), and may have a secret too (signed deliveries to the same hook); the
git hook's own notifications carry none, their refs are read again from the repository.

Periodic jobs (`PeriodicJob`) are run by the app on a thread each (flowplan.server.app): approval
timeouts expire every 30 s, and registered schedules are looked at every 30 s
(flowplan.server.schedules: a due schedule starts one run, a missed one catches up once).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowplan.server.auth import Authenticator
from flowplan.server.deliveries import DEFAULT_MAX_BYTES, WebhookFilter
from flowplan.server.launcher import Launcher, recent_sources_key, sources_key
from flowplan.server.schedules import Scheduler, pipeline_name

if TYPE_CHECKING:
    from flowplan.engine import StateBackend

log = logging.getLogger("flowplan.server")

WEBHOOK_PREFIX = "webhook."
PIPELINE_PREFIX = "pipeline."
PROVIDERS = ("github", "git")
APPROVAL_EXPIRY_SECONDS = 30.0
SCHEDULE_TICK_SECONDS = 30.0


@dataclass(frozen=True)
class HookTarget:
    """One applied webhook as the receiver needs it. `problem`, when set, is why its
    deliveries are refused (503); `secret` is None then, or for a git hook (which has none)."""

    name: str
    provider: str                              # github | git
    pipeline: str | None                       # the pipeline's name
    filters: WebhookFilter
    variables: Mapping[str, str]
    repository: str | None
    secret: str | None = field(default=None, repr=False)
    problem: str | None = None

    def __repr__(self) -> str:                 # never the secret, even by accident
        return (f"HookTarget(name={self.name!r}, provider={self.provider!r}, "
                f"pipeline={self.pipeline!r}, problem={self.problem!r})")


class HookTargets:
    """The applied webhooks by name, read again when the state or the config changes."""

    def __init__(self, directory: Path, state: StateBackend,
                 environ: Mapping[str, str] | None = None) -> None:
        self.directory = Path(directory)
        self.state = state
        self.environ = dict(os.environ if environ is None else environ)
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._targets: dict[str, HookTarget] = {}

    def get(self, name: str) -> HookTarget | None:
        return self._current().get(name)

    def if_unchanged(self, name: str) -> tuple[bool, HookTarget | None]:
        """(True, `name` as read) when nothing changed since it was read: a few `stat`s and
        the state's stamp, at most every RECENT_SECONDS, no reading, so fit for an event loop;
        (False, None) when it must be read again (`get`)."""
        if self._key is None or recent_sources_key(self.directory, self.state) != self._key:
            return False, None
        return True, self._targets.get(name)

    def last_read(self, name: str) -> HookTarget | None:
        """`name` as last read, without looking whether the state changed since (no I/O): a
        first look that may be stale; `get` is the answer."""
        return self._targets.get(name)

    def names(self) -> list[str]:
        return sorted(self._current())

    def all(self) -> list[HookTarget]:
        targets = self._current()
        return [targets[name] for name in sorted(targets)]

    def _current(self) -> dict[str, HookTarget]:
        key = self._sources_key()
        with self._lock:
            if key != self._key:
                targets = read_hook_targets(self.directory, self.state, self.environ)
                if targets is not None:         # else keep what was read: tried again next time
                    self._targets, self._key = targets, key
            return self._targets

    def _sources_key(self) -> tuple:
        return sources_key(self.directory, self.state)


def read_hook_targets(directory: Path, backend: StateBackend,
                      environ: Mapping[str, str]) -> dict[str, HookTarget] | None:
    """The webhooks of the state in `backend`, with the clear secrets of the config in
    `directory` that match their digests; None when the state cannot be read (a pg database
    that does not answer: the webhooks last read stay in use meanwhile)."""
    from flowplan.config.loader import load_config
    from flowplan.state import StateError

    try:
        state = backend.read()
    except StateError as exc:
        log.warning("webhooks: the state cannot be read: %s", exc)
        return None
    applied = {r.address: r for r in state if r.address.startswith(WEBHOOK_PREFIX)}
    if not applied:
        return {}
    configured: dict[str, Any] = {}
    config_problem = None
    try:
        config = load_config(directory, environ=dict(environ))
    except Exception as exc:  # noqa: BLE001 - an unreadable config refuses the hooks, says why
        config, config_problem = None, f"the config does not load ({type(exc).__name__})"
    if config is not None:
        if config.diagnostics.has_errors:
            first = config.diagnostics.errors[0]        # its summary only: a detail may quote
            config_problem = f"the config does not load ({first.summary} at {first.range})"
        else:
            configured = {address: resource.attributes
                          for address, resource in config.resources.items()
                          if address.startswith(WEBHOOK_PREFIX)}
    return {resource.name: hook_target(resource.name, resource.provider, resource.attributes,
                                       configured.get(resource.address), config_problem)
            for resource in applied.values()}


def hook_target(name: str, provider: str, applied: Mapping[str, Any],
                configured: Mapping[str, Any] | None, config_problem: str | None = None
                ) -> HookTarget:
    """One webhook from its applied attributes and (for the clear secret) its configured
    ones."""
    from flowplan.values import Sensitive, is_sensitive_marker, sensitive_matches

    pipeline = applied.get("pipeline")
    pipeline = pipeline.removeprefix(PIPELINE_PREFIX) if isinstance(pipeline, str) else None
    keys = ("git_dir", "repository") if provider == "git" else ("repository",)
    repository = next((applied[key] for key in keys if isinstance(applied.get(key), str)),
                      None)
    variables = applied.get("variables")
    target = HookTarget(
        name=name, provider=provider, pipeline=pipeline,
        filters=WebhookFilter(events=_texts(applied.get("events")) or ("push",),
                              branches=_texts(applied.get("branches")),
                              tags=_texts(applied.get("tags")),
                              paths=_texts(applied.get("paths"))),
        variables={str(k): str(v) for k, v in variables.items()}
        if isinstance(variables, Mapping) else {},
        repository=repository)
    if pipeline is None:
        return _refused(target, "it names no pipeline in the state: run `flowplan apply`")
    if provider not in PROVIDERS:
        return _refused(target, f"its provider {provider!r} is not github or git")
    marker = applied.get("secret")
    if provider == "git" and marker is None:
        return target                       # the git sender has no secret: refs are re-read
    if not is_sensitive_marker(marker):
        return _refused(target, "it has no secret in the state: set `secret` and run "
                                "`flowplan apply`")
    if config_problem is not None:
        return _refused(target, f"{config_problem}, so its secret is not known: fix it")
    if configured is None:
        return _refused(target, f"webhook.{name} is no longer in the config: run "
                                "`flowplan apply`")
    given = configured.get("secret")
    clear = given.value if isinstance(given, Sensitive) else given
    if not isinstance(clear, str) or not sensitive_matches(marker, clear):
        return _refused(target, f"the secret of webhook.{name} in the config is not the one "
                                "applied: run `flowplan apply`")
    return HookTarget(target.name, target.provider, target.pipeline, target.filters,
                      target.variables, target.repository, secret=clear)


def _refused(target: HookTarget, problem: str) -> HookTarget:
    return HookTarget(target.name, target.provider, target.pipeline, target.filters,
                      target.variables, target.repository, problem=problem)


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else ()


@dataclass(frozen=True)
class PeriodicJob:
    """`run()` every `seconds` on a thread of the server (flowplan.server.app)."""

    name: str
    seconds: float
    run: Callable[[], Any]


def schedule_starter(launcher: Launcher) -> Callable[[Any, str | None], str]:
    """What the schedule ticker calls to start a schedule's run (a ScheduleRecord, the source
    head it saw): the run's ref; LaunchRefused when it cannot start."""
    def start(schedule: Any, commit: str | None) -> str:
        definition = getattr(schedule, "definition", None) or {}
        return launcher.start(pipeline_name(schedule), trigger="schedule",
                              user=f"schedule:{schedule.name}",
                              variables=definition.get("variables") or None,
                              branch=definition.get("branch") or None, commit=commit).ref
    return start


def schedule_tick(scheduler: Any) -> Callable[[], Any]:
    """A periodic job's body: one tick of `scheduler` at the current UTC time."""
    from flowplan.store.schema import utc_now

    return lambda: scheduler.tick(utc_now())


@dataclass
class ServerContext:
    directory: Path
    settings: dict
    service: Any                    # flowplan.executor.service.RunService
    store: Any                      # flowplan.store.Store
    launcher: Launcher
    auth: Authenticator
    hooks: HookTargets
    jobs: list[PeriodicJob] = field(default_factory=list)
    max_body_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def load(cls, directory: Path | str, environ: Mapping[str, str] | None = None, *,
             auth: Any = None, team: str | None = None) -> ServerContext:
        """Load the config's settings, open the run service (which marks the runs of processes
        that died `interrupted`), and read the applied webhooks. DiagnosticsError when the
        `flowplan {}` settings are wrong.

        The server serves one team: `team`, else the selected one (TeamError when it does not
        exist here). Its store, state, variable values, webhooks and schedules are that team's,
        and its Authenticator lets in that team's members only."""
        from flowplan import engine, teams
        from flowplan.config.loader import load_config
        from flowplan.diagnostics import DiagnosticsError

        directory = Path(directory).resolve()
        environ = dict(os.environ if environ is None else environ)
        if team is None:
            team = teams.selected_team(directory, environ)
        elif not teams.team_exists(directory, teams.check_name(team)):
            raise teams.TeamError(f"there is no team {team!r} in {directory}: create it with "
                                  f"`flowplan team new {team}`")
        environ[teams.TEAM_ENV] = team      # what the launcher loads and runs is this team's
        config = load_config(directory, environ=environ, team=team)
        problems = [d for d in config.diagnostics.errors if d.address == "flowplan"]
        if problems:
            raise DiagnosticsError(problems, config.texts)
        settings = dict(config.settings or {})
        service = engine.open_run_service(directory, config)
        state = engine.backend_for(directory, settings, team)
        launcher = Launcher(directory, service, environ=environ, state=state)
        jobs = [PeriodicJob("approval timeouts", APPROVAL_EXPIRY_SECONDS,
                            service.expire_approvals),
                PeriodicJob("schedules", SCHEDULE_TICK_SECONDS,
                            schedule_tick(Scheduler(service.store,
                                                    schedule_starter(launcher))))]
        return cls(directory=directory, settings=settings, service=service,
                   store=service.store, launcher=launcher,
                   auth=auth if auth is not None else Authenticator(service.store, team=team),
                   hooks=HookTargets(directory, state, environ), jobs=jobs)

    def server_settings(self) -> dict[str, Any]:
        """The `flowplan { server {} }` block with its defaults: host, port, url, and
        max_upload_bytes (`max_upload_size` in bytes; None: the worker API's default)."""
        from flowplan.config.schema import parse_size

        server = dict(self.settings.get("server") or {})
        host = server.get("host") or "127.0.0.1"
        port = int(server.get("port") or 8080)
        size = server.get("max_upload_size")
        return {"host": host, "port": port, "url": server.get("url") or f"http://{host}:{port}",
                "max_upload_bytes": parse_size(size) if size is not None else None}

    def close(self, timeout: float = 10.0) -> None:
        """Stop the launcher (runs in flight are canceled), close the store and the state
        backend's connections (pg)."""
        self.launcher.shutdown(timeout)
        self.store.close()
        close_state = getattr(self.hooks.state, "close", None)
        if close_state is not None:
            close_state()


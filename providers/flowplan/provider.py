"""FlowplanProvider: the `pipeline`, `schedule` and `deployment_group` resources, whose real system
is the flowplan store.

`apply` registers a resource's attributes (with their `$unknown`/`$sensitive` markers, never a
clear secret) under its block label; `read` renders the registered record back into the same
attribute shape, so a refresh sees changes made behind flowplan's back and rows that are gone.

`id` is the store's row id as a decimal string ("7"): it survives updates in place and changes when
the row is deleted and created again (a replace, or an out-of-band re-registration), which a refresh
then shows. Lookups go by name (the block label), which is unique per resource type; `import` takes
that name as its id.

A deployment group's real system is also its hosts: `apply` reaches each one and records the
SSH hosts' keys in `host_keys`, and refresh looks at those keys again
(providers.flowplan.deployment_groups, which loads the transports of providers.flowplan.deploy and
providers.ssh only when a group is applied or refreshed).

The block models of its resource types are in providers.flowplan.schema (the pipeline's is core's).
Core decides the action from what `plan` proposes; the store is opened lazily from the `store`
setting of the `flowplan {}` block, so `validate` and `plan` never touch the database.

Reading the store for a run is left to the executor; the tables and their upgrades to
`flowplan.store`.

A deployment group with an `ecs {}` block also has ECS instances: apply resolves and tags them and
records them in `ecs_instances`, refresh reads them again, and the plan shows what changed (the
`_*_ecs` methods, on flowplan_providers.alicloud.deployment_groups, imported only then); the
credentials come from the `provider "alicloud"` block, which the schema `reads`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


from flowplan.plan.decide import same_value
from flowplan.providers import (
    ApplyRequest,
    ApplyResponse,
    Attributes,
    ConfigureRequest,
    ImportRequest,
    ImportResponse,
    PlanRequest,
    PlanResponse,
    ProviderDiagnostic,
    ProviderSchema,
    ReadRequest,
    ReadResponse,
    ValidateRequest,
)
from flowplan.values import (
    KNOWN_AFTER_APPLY,
    contains_unknown,
    is_sensitive_marker,
    is_unknown_marker,
)
from . import deployment_groups
from .schema import SCHEMA

if TYPE_CHECKING:   # the store (and SQLAlchemy) is imported when first opened: plans that do
    # not refresh never touch it, and start-up stays fast
    from flowplan.store import DeploymentGroupRecord, PipelineRecord, ScheduleRecord, Store

DEFAULT_STORE_URL = "sqlite:///.flowplan/flowplan.db"
DEFAULT_TIMEZONE = "UTC"


def _store_failures() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import SQLAlchemyError

    from flowplan.store import SchemaVersionError

    return (SchemaVersionError, SQLAlchemyError, OSError)


def pipeline_content_hash(definition: Attributes) -> str:
    """SHA-256 hex of the canonical JSON of a pipeline definition (without id/content_hash)."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_marker(value: Any) -> bool:
    return is_unknown_marker(value) or is_sensitive_marker(value)


def _without(attributes: Attributes, *keys: str) -> Attributes:
    return {key: value for key, value in attributes.items() if key not in keys}


class _Pipelines:
    """`pipeline` resources: the definition is every configured attribute."""

    @staticmethod
    def register(store: Store, name: str, planned: Attributes) -> Attributes:
        definition = _without(planned, "id", "content_hash")
        record = store.register_pipeline(name, definition, pipeline_content_hash(definition))
        return {**planned, "id": str(record.id), "content_hash": record.content_hash}

    @staticmethod
    def fetch(store: Store, name: str) -> PipelineRecord | None:
        return store.get_pipeline(name)

    @staticmethod
    def remove(store: Store, name: str) -> bool:
        return store.delete_pipeline(name)

    @staticmethod
    def render(record: PipelineRecord) -> Attributes:
        return {**record.definition, "id": str(record.id), "content_hash": record.content_hash}


class _Schedules:
    """`schedule` resources: pipeline, cron and timezone in columns, the whole block as definition."""

    @staticmethod
    def register(store: Store, name: str, planned: Attributes) -> Attributes:
        definition = _without(planned, "id")
        record = store.register_schedule(
            name, pipeline=definition.get("pipeline"), cron=definition.get("cron"),
            timezone=definition.get("timezone", DEFAULT_TIMEZONE), definition=definition)
        return {**planned, "id": str(record.id)}

    @staticmethod
    def fetch(store: Store, name: str) -> ScheduleRecord | None:
        return store.get_schedule(name)

    @staticmethod
    def remove(store: Store, name: str) -> bool:
        return store.delete_schedule(name)

    @staticmethod
    def render(record: ScheduleRecord) -> Attributes:
        columns = {"pipeline": record.pipeline, "cron": record.cron}
        if "timezone" in record.definition or record.timezone != DEFAULT_TIMEZONE:
            columns["timezone"] = record.timezone
        return {**record.definition, **columns, "id": str(record.id)}


class _DeploymentGroups:
    """`deployment_group` resources: environment in a column, the whole block (hosts included)
    as definition."""

    @staticmethod
    def register(store: Store, name: str, planned: Attributes) -> Attributes:
        definition = _without(planned, "id")
        record = store.register_deployment_group(name, environment=definition.get("environment"),
                                                 definition=definition)
        return {**planned, "id": str(record.id)}

    @staticmethod
    def fetch(store: Store, name: str) -> DeploymentGroupRecord | None:
        return store.get_deployment_group(name)

    @staticmethod
    def remove(store: Store, name: str) -> bool:
        return store.delete_deployment_group(name)

    @staticmethod
    def render(record: DeploymentGroupRecord) -> Attributes:
        return {**record.definition, "environment": record.environment, "id": str(record.id)}


_KINDS = {"pipeline": _Pipelines, "schedule": _Schedules, "deployment_group": _DeploymentGroups}


class FlowplanProvider:
    """Registers pipelines, schedules and deployment groups into the flowplan store.

    One instance is shared by the threads `apply` runs; the store it opens is thread-safe.
    """

    name = "flowplan"
    connect_timeout = deployment_groups.CONNECT_TIMEOUT     # seconds per host, apply and refresh

    def __init__(self) -> None:
        self._store_url: str | None = None
        self._working_dir: Path | None = None
        self._team = "default"              # whose pipelines, schedules and groups it registers
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._drift = deployment_groups.KeyDrift()
        self._alicloud: Any = None          # AlicloudSettings of the `provider "alicloud"` block
        self.ecs_backoff: Any = None        # the ECS client's Backoff (None: its default)

    def schema(self) -> ProviderSchema:
        return SCHEMA

    def configure(self, request: ConfigureRequest) -> list[ProviderDiagnostic]:
        url = request.settings.get("store")
        if url is None:
            url = DEFAULT_STORE_URL
        if type(url) is not str or not url:
            return [ProviderDiagnostic(
                "Invalid store URL", attribute="store",
                detail="`store` in the flowplan block must be an SQLAlchemy URL known before "
                       "apply, such as \"sqlite:///.flowplan/flowplan.db\"")]
        working_dir = Path(request.working_dir)
        team = getattr(request, "team", "default")
        with self._lock:
            if self._store is not None and (url, working_dir, team) != (
                    self._store_url, self._working_dir, self._team):
                self._store.close()
                self._store = None
            self._store_url = url
            self._working_dir = working_dir
            self._team = team
        return self._configure_alicloud(request)

    def close(self) -> None:
        """Release the store's connections (not part of the protocol; for the CLI and tests)."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # -- validate and plan: no database ---------------------------------------------------------

    def validate(self, request: ValidateRequest) -> list[ProviderDiagnostic]:
        if request.type not in _KINDS:
            return [_unknown_type(request.type)]
        config = request.config
        found = [ProviderDiagnostic(f"`{key}` cannot be set",
                                    detail=f"flowplan computes `{key}` when it registers the "
                                           f"{request.type}", attribute=key)
                 for key in SCHEMA.resource(request.type).computed if key in config]
        if request.type == "schedule":
            found += _check_text(config, "pipeline", required=True,
                                 shape="the address of a pipeline, such as pipeline.app")
            found += _check_text(config, "cron", required=True, check=_cron_problem,
                                 shape="a cron expression, such as \"0 2 * * *\"")
            found += _check_text(config, "timezone", required=False, check=_timezone_problem,
                                 shape="an IANA time zone name, such as \"Asia/Seoul\"")
        elif request.type == "deployment_group":
            found += _check_text(config, "environment", required=True,
                                 shape="the name of an environment, such as \"daily\"")
            found += deployment_groups.host_problems(config)
            found += _ecs_problems(config.get("ecs"))
        return found

    def plan(self, request: PlanRequest) -> PlanResponse:
        if request.type not in _KINDS:
            return PlanResponse(planned=dict(request.config),
                                diagnostics=(_unknown_type(request.type),))
        resource = SCHEMA.resource(request.type)
        planned = _without(request.config, *resource.computed)
        planned["id"] = self._planned_id(request, resource.force_new)
        requires_replace = resource.force_new
        if request.type == "pipeline":
            definition = _without(planned, "id")
            planned["content_hash"] = (KNOWN_AFTER_APPLY.marker() if contains_unknown(definition)
                                       else pipeline_content_hash(definition))
        elif request.type == "deployment_group":
            keys, forcing = deployment_groups.planned_host_keys(
                request.config, request.prior, self._drift.of(self._scope(request.name)))
            # before `id`, where the store's rendering of the group (read) puts it too
            planned = {**_without(planned, "id"), "host_keys": keys, "id": planned["id"]}
            requires_replace = (*requires_replace, *forcing)
        diagnostics: tuple[ProviderDiagnostic, ...] = ()
        if request.type == "deployment_group" and planned.get("ecs") is not None:
            planned, diagnostics = self._plan_ecs(request, planned)
        return PlanResponse(planned=planned, requires_replace=requires_replace,
                            diagnostics=diagnostics)

    @staticmethod
    def _planned_id(request: PlanRequest, force_new: tuple[str, ...]) -> Any:
        """The prior id, unless there is none or the change will replace the row (a new id)."""
        prior = request.prior
        if prior is None or "id" not in prior:
            return KNOWN_AFTER_APPLY.marker()
        if any(not same_value(prior.get(key), request.config.get(key)) for key in force_new):
            return KNOWN_AFTER_APPLY.marker()
        return prior["id"]

    # -- read, apply, import: the store ---------------------------------------------------------

    def read(self, request: ReadRequest) -> ReadResponse:
        kind = _KINDS.get(request.type)
        if kind is None:
            return ReadResponse(state=request.state, diagnostics=(_unknown_type(request.type),))
        try:
            record = kind.fetch(self._opened_store(), request.name)
        except _store_failures() as error:
            return ReadResponse(state=request.state, diagnostics=(
                self._store_failure(f"Cannot read {request.type}.{request.name}", error),))
        if request.type == "deployment_group" and record is None:
            self._drift.record(self._scope(request.name), None)
        if record is None:
            return ReadResponse(state=None)
        state = kind.render(record)
        if request.type != "deployment_group":
            return ReadResponse(state=state)
        changed, warnings = deployment_groups.look_at_host_keys(
            f"deployment_group.{request.name}", state, self._working_dir, self.connect_timeout)
        self._drift.record(self._scope(request.name),
                           deployment_groups.refreshed_keys(state, changed))
        if state.get("ecs"):
            read = self._read_ecs(request.name, state)
            return ReadResponse(state=read.state, diagnostics=(*warnings, *read.diagnostics))
        return ReadResponse(state=state, diagnostics=tuple(warnings))

    def apply(self, request: ApplyRequest) -> ApplyResponse:
        kind = _KINDS.get(request.type)
        if kind is None:
            return ApplyResponse(state=request.prior, diagnostics=(_unknown_type(request.type),))
        warnings: tuple[ProviderDiagnostic, ...] = ()
        if request.type == "deployment_group":
            self._drift.record(self._scope(request.name), None)   # what refresh saw is settled
            if request.planned is not None:     # first the SSH hosts' keys: that changes nothing
                keys, problems = deployment_groups.pin_host_keys(
                    f"deployment_group.{request.name}", request.config or request.planned,
                    request.planned, self._working_dir, self.connect_timeout)
                if problems:
                    return ApplyResponse(state=request.prior, diagnostics=tuple(problems))
                request = dataclasses.replace(request,
                                              planned={**request.planned, "host_keys": keys})
            planned, warnings = self._apply_ecs(request)
            if any(w.severity == "error" for w in warnings):
                return ApplyResponse(state=request.prior, diagnostics=warnings)
            if planned is not request.planned:
                request = ApplyRequest(request.type, request.name, request.prior, planned,
                                       request.config)
        try:
            store = self._opened_store()
            if request.planned is None:
                kind.remove(store, request.name)      # already gone is fine
                return ApplyResponse(state=None, diagnostics=warnings)
            return ApplyResponse(state=kind.register(store, request.name, request.planned),
                                 diagnostics=warnings)
        except (*_store_failures(), ValueError) as error:
            verb = "delete" if request.planned is None else "register"
            return ApplyResponse(state=request.prior, diagnostics=(
                self._store_failure(f"Cannot {verb} {request.type}.{request.name}", error),))

    def import_resource(self, request: ImportRequest) -> ImportResponse:
        kind = _KINDS.get(request.type)
        if kind is None:
            return ImportResponse(state=None, diagnostics=(_unknown_type(request.type),))
        if request.id != request.name:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"Cannot import {request.type}.{request.name} from {request.id!r}",
                detail=f"the store keeps each {request.type} under its block label: import "
                       f"{request.type}.{request.name} with the id {request.name!r}"),))
        try:
            record = kind.fetch(self._opened_store(), request.id)
        except _store_failures() as error:
            return ImportResponse(state=None, diagnostics=(self._store_failure(
                f"Cannot import {request.type}.{request.name}", error),))
        if record is None:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"No {request.type} named {request.id!r} is registered",
                detail=f"the store at {self._store.url} has no {request.type} {request.id!r}"),))
        return ImportResponse(state=kind.render(record))

    def _scope(self, name: str) -> tuple:
        """Whose host keys a refresh saw: this store's deployment group `name`."""
        return (self._store_url, str(self._working_dir), self._team, name)
    # -- deployment groups' ECS instances (flowplan_providers.alicloud) --------------------------

    def _configure_alicloud(self, request: ConfigureRequest) -> list[ProviderDiagnostic]:
        block = request.blocks.get("alicloud")
        if block is None:
            self._alicloud = None
            return []
        from flowplan_providers.alicloud.settings import read_settings

        self._alicloud, problems = read_settings(block)
        return problems

    def _ecs_region(self, ecs: Attributes) -> str:
        """The region of an `ecs` block; ValueError naming what the alicloud block lacks."""
        settings = self._alicloud
        if settings is None:
            raise ValueError('an `ecs` block needs a provider "alicloud" block with region, '
                             "access_key and secret_key")
        missing = settings.missing()
        region = ecs.get("region") or settings.region
        if region is None:
            missing.insert(0, "region")
        if missing:
            raise ValueError(f'the provider "alicloud" block has no {" or ".join(missing)}, '
                             "which an `ecs` block needs")
        return region

    def _ecs_client(self, ecs: Attributes) -> Any:
        """An EcsClient for the group's region (the SDK is imported here, and only here)."""
        region = self._ecs_region(ecs)
        from flowplan_providers.alicloud.ecs import Backoff, EcsClient

        return EcsClient(self._alicloud, region, backoff=self.ecs_backoff or Backoff())

    def _plan_ecs(self, request: PlanRequest, planned: Attributes
                  ) -> tuple[Attributes, tuple[ProviderDiagnostic, ...]]:
        """`ecs_instances`: the refreshed instances that exist, tagged, while the `ecs` block is
        unchanged; known after apply when it changed or the group is new."""
        ecs = planned["ecs"]
        try:
            if not contains_unknown(ecs):
                self._ecs_region(ecs)             # credentials and region are there
        except ValueError as error:
            return planned, (ProviderDiagnostic("Cannot reach the ECS instances",
                                                detail=str(error), attribute="ecs"),)
        prior = request.prior or {}
        recorded = prior.get("ecs_instances")
        if not same_value(prior.get("ecs"), ecs) or not isinstance(recorded, dict) \
                or contains_unknown(ecs):
            return {**planned, "ecs_instances": KNOWN_AFTER_APPLY.marker()}, ()
        from flowplan_providers.alicloud.deployment_groups import planned_instances

        instances, missing = planned_instances(recorded)
        warnings = tuple(ProviderDiagnostic(
            "ECS instance no longer exists",
            detail=f"{i} of deployment_group.{request.name} was not found in its region; "
                   + ("apply fails until it is removed from instance_ids"
                      if i in (ecs.get("instance_ids") or []) else
                      "apply removes it from the group"),
            attribute="ecs", severity="warning") for i in missing)
        return {**planned, "ecs_instances": instances}, warnings

    def _read_ecs(self, name: str, state: Attributes) -> ReadResponse:
        from flowplan_providers.alicloud.deployment_groups import EcsError, refresh

        try:
            client = self._ecs_client(state["ecs"])
            instances = refresh(client, name, state["ecs"], state.get("ecs_instances") or {})
        except (ValueError, EcsError) as error:
            return ReadResponse(state=state, diagnostics=(ProviderDiagnostic(
                f"Cannot refresh the ECS instances of deployment_group.{name}",
                detail=str(error), attribute="ecs"),))
        return ReadResponse(state={**state, "ecs_instances": instances})

    def _apply_ecs(self, request: ApplyRequest
                   ) -> tuple[Attributes | None, tuple[ProviderDiagnostic, ...]]:
        """Resolve and tag the instances before the group is registered (the planned attributes
        with `ecs_instances` filled in), or untag them when it goes; an error diagnostic when
        that fails. Groups without an `ecs` block pass through untouched."""
        planned, prior = request.planned, request.prior or {}
        ecs = planned.get("ecs") if planned is not None else None
        if ecs is None and not prior.get("ecs"):
            return planned, ()
        from flowplan_providers.alicloud.deployment_groups import (EcsError, GroupError,
                                                                   release, resolve)

        verb = "release" if ecs is None else "resolve"
        try:
            if ecs is None:                       # deleted, or the block was removed
                release(self._ecs_client(prior["ecs"]), request.name,
                        sorted(prior.get("ecs_instances") or {}))
                return planned, ()
            instances, warnings = resolve(self._ecs_client(ecs), request.name, ecs,
                                          prior.get("ecs_instances") or {})
        except (ValueError, EcsError, GroupError) as error:
            problem = ProviderDiagnostic(
                f"Cannot {verb} the ECS instances of deployment_group.{request.name}",
                detail=str(error), attribute="ecs")
            if ecs is None:                       # the group goes anyway: say what was left
                return planned, (ProviderDiagnostic(problem.summary, problem.detail, "ecs",
                                                    "warning"),)
            return planned, (problem,)
        return {**planned, "ecs_instances": instances}, tuple(
            ProviderDiagnostic("ECS instance", detail=w, attribute="ecs", severity="warning")
            for w in warnings)

    def _opened_store(self) -> Store:
        with self._lock:
            if self._store is None:
                if self._store_url is None:
                    raise RuntimeError("FlowplanProvider used before configure()")
                from flowplan.store import Store

                self._store = Store.open(self._store_url, self._working_dir, team=self._team)
            return self._store

    def _store_failure(self, summary: str, error: Exception) -> ProviderDiagnostic:
        from flowplan.store import shown_url

        where = self._store.url if self._store is not None else shown_url(self._store_url or "")
        return ProviderDiagnostic(summary, detail=f"store {where}: {error}")


def _unknown_type(type_: str) -> ProviderDiagnostic:
    known = ", ".join(_KINDS)
    return ProviderDiagnostic(f"The flowplan provider has no resource type {type_!r}",
                              detail=f"it manages {known}")


def _ecs_problems(ecs: Any) -> list[ProviderDiagnostic]:
    """What is wrong with an `ecs {}` block, offline."""
    if not isinstance(ecs, dict) or contains_unknown(ecs):
        return []
    ids, tags = ecs.get("instance_ids") or [], ecs.get("tags") or {}
    if not ids and not tags:
        return [ProviderDiagnostic("Empty `ecs` block", attribute="ecs",
                                   detail="`ecs` needs instance_ids, tags or both (the "
                                          "instances named that carry the tags)")]
    found = []
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        found.append(ProviderDiagnostic("Duplicate instance ids", attribute="ecs",
                                        detail=f"instance_ids names {', '.join(duplicates)} "
                                               "more than once"))
    if any(type(i) is not str or not i for i in ids):
        found.append(ProviderDiagnostic("Invalid instance id", attribute="ecs",
                                        detail="instance_ids must be ECS instance ids such as "
                                               "\"i-bp1abc\""))
    return found


def _check_text(config: Attributes, key: str, *, required: bool, shape: str,
                check: Callable[[str], str | None] | None = None) -> list[ProviderDiagnostic]:
    """Diagnostics for one string attribute; markers (unknown, sensitive) are left unchecked."""
    if key not in config:
        if not required:
            return []
        return [ProviderDiagnostic(f"Missing `{key}`", detail=f"`{key}` must be {shape}",
                                   attribute=key)]
    value = config[key]
    if _is_marker(value):
        return []
    if type(value) is not str or not value:
        return [ProviderDiagnostic(f"Invalid `{key}`", detail=f"`{key}` must be {shape}",
                                   attribute=key)]
    problem = check(value) if check is not None else None
    if problem is None:
        return []
    return [ProviderDiagnostic(f"Invalid `{key}`", detail=f"{problem}; `{key}` must be {shape}",
                               attribute=key)]


def _cron_problem(expression: str) -> str | None:
    from croniter import croniter

    if croniter.is_valid(expression):
        return None
    try:
        croniter(expression)
    except Exception as error:  # noqa: BLE001 - croniter's reason, shown to the user
        return f"{expression!r} is not a valid cron expression ({error})"
    return f"{expression!r} is not a valid cron expression"


def _timezone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not a known IANA time zone"
    return None

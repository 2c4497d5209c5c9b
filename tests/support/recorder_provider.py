"""The test provider: MockProvider in memory, RecorderProvider on files for a `flowplan` subprocess.

MockProvider implements flowplan.providers.Provider for in-process tests (tests/support/inline.py
hands it to flowplan.engine through a ProviderRegistry). It serves the resource types it is given
(by default `acr_namespace`, `acr_repository` and `webhook`, with their block models, as a real
provider owns its schemas, their computed attributes and `name` forcing replacement), keeps fake "real objects" by address, and records every call in order
with its request: `configure`, `validate`, `read`, `plan`, `apply_start`, `apply_failed`,
`apply`, `import`. A test can make it fail an apply (`fail_apply`), answer a call with diagnostics
(`add_diagnostic`), set computed values (`set_computed`), and change or delete a real object
behind flowplan's back (`drift`, `delete_outside`), which the next refresh (`read`) shows.

RecorderProvider is the same provider for end-to-end tests, loaded through
`FLOWPLAN_PROVIDER_PLUGINS=alicloud=recorder_provider:RecorderProvider,...` with this directory on
PYTHONPATH; it is configured by the environment and keeps its objects and call log in files, so
that a later process, and the test, see what an earlier one did:

    FLOWPLAN_RECORDER_LOG          append one JSON line per call (method, type, name, pid, ...)
    FLOWPLAN_RECORDER_DB           JSON file holding the "real objects" by address
    FLOWPLAN_RECORDER_FORCE_NEW    comma list of attributes whose change forces replacement
                                   (default: name)
    FLOWPLAN_RECORDER_APPLY_DELAY  seconds to sleep in each apply before touching the objects
    FLOWPLAN_RECORDER_FAIL         comma list of addresses whose apply returns an error

The real objects keep what a real system would: the clear values apply was handed (a webhook
secret included), and `apply`/`read` hand those clear values back, as a real API would. Keeping
them out of flowplan's state is core's job, and the tests check it does. Keep the log and the
database outside the config's `.flowplan/` directory for that reason.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Iterable, Iterator, Literal, Optional

from flowplan.config.schema import BlockModel, Ref
from flowplan.providers import (ApplyRequest, ApplyResponse, ConfigureRequest, ImportRequest,
                                ImportResponse, PlanRequest, PlanResponse, ProviderDiagnostic,
                                ProviderSchema, ReadRequest, ReadResponse, ResourceSchema,
                                ValidateRequest)


class AcrNamespace(BlockModel):
    instance_id: str
    name: str
    auto_create_repo: bool = False
    default_visibility: Literal["private", "public"] = "private"


class AcrRepository(BlockModel):
    namespace: str
    name: str
    visibility: Literal["private", "public"] = "private"
    summary: str = ""
    description: str = ""
    instance_id: Optional[str] = None


class Webhook(BlockModel):
    pipeline: Annotated[str, Ref("pipeline")]
    source: Optional[dict[str, Any]] = None
    events: list[Literal["push", "tag", "pull_request"]] = ["push"]
    branches: list[str] = []
    secret: Optional[str] = None


# type -> (block model, computed attributes)
TYPES: dict[str, tuple[type[BlockModel], tuple[str, ...]]] = {
    "acr_namespace": (AcrNamespace, ("id",)),
    "acr_repository": (AcrRepository, ("id", "url", "repo_id")),
    "webhook": (Webhook, ("id", "url")),
}
UNKNOWN = {"$unknown": "known after apply"}
METHODS = ("configure", "validate", "read", "plan", "apply", "import")


@dataclass(frozen=True)
class Call:
    """One call the provider received: `method`, the resource address (None for configure), the
    request object, and extra fields (`action` for applies, `id` for a finished apply)."""

    method: str
    address: str | None
    request: Any = None
    fields: dict = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    @property
    def action(self) -> str | None:
        return self.fields.get("action")


def schemas_for(types: Iterable[str] = tuple(TYPES), computed: tuple[str, ...] | None = None,
                force_new: tuple[str, ...] = ("name",)) -> tuple[ResourceSchema, ...]:
    """A schema for each of `types` (names in TYPES): its block model, its computed attributes
    (TYPES' unless `computed` is given) and `force_new`."""
    return tuple(ResourceSchema(type=t, model=TYPES[t][0], force_new=force_new,
                                computed=computed if computed is not None else TYPES[t][1])
                 for t in types)


class MockProvider:
    """An in-memory provider: configurable schemas, recorded calls, injectable failures."""

    name = "mock"

    def __init__(self, schemas: Iterable[ResourceSchema] | None = None, *,
                 name: str = "mock", apply_delay: float = 0) -> None:
        self.name = name
        self.schemas = {s.type: s for s in (schemas if schemas is not None else schemas_for())}
        self.apply_delay = apply_delay
        self.calls: list[Call] = []
        self.apply_failures: dict[str, str] = {}        # address -> error summary
        self.computed_values: dict[str, dict] = {}      # address or type -> computed values
        self.diagnostics: dict[tuple[str, str | None], list[ProviderDiagnostic]] = {}
        self._objects: dict[str, Any] = {"objects": {}, "next_id": 1}
        self._lock = threading.RLock()                  # apply runs on a thread pool

    # -- what tests set up ----------------------------------------------------------------------

    def fail_apply(self, *addresses: str, message: str | None = None) -> None:
        """Make every apply (create, update or delete) of `addresses` return an error."""
        for address in addresses:
            self.apply_failures[address] = message or f"The recorder was told to fail {address}"

    def add_diagnostic(self, method: str, address: str | None, summary: str, detail: str = "",
                       attribute: str | None = None, severity: str = "error") -> None:
        """Answer `method` ("configure", "validate", "plan" or "read") for `address` (None:
        for configure) with a diagnostic as well."""
        assert method in ("configure", "validate", "plan", "read"), method
        self.diagnostics.setdefault((method, address), []).append(
            ProviderDiagnostic(summary, detail, attribute, severity))

    def set_computed(self, address_or_type: str, **values: Any) -> None:
        """Values the next applies of an address (or of every resource of a type) compute."""
        self.computed_values.setdefault(address_or_type, {}).update(values)

    def drift(self, address: str, **changes: Any) -> None:
        """Change a real object behind flowplan's back."""
        with self._transaction() as data:
            data["objects"][address].update(changes)

    def delete_outside(self, address: str) -> None:
        """Delete a real object behind flowplan's back."""
        with self._transaction() as data:
            del data["objects"][address]

    # -- what tests look at ---------------------------------------------------------------------

    @property
    def objects(self) -> dict[str, dict]:
        """A copy of the real objects by address."""
        with self._transaction(write=False) as data:
            return copy.deepcopy(data["objects"])

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def applied(self) -> list[tuple[str, str]]:
        """(address, action) of each finished apply, in the order they finished."""
        return [(c.address, c.action) for c in self.calls_to("apply")]

    def clear_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    # -- storage; RecorderProvider keeps both in files ------------------------------------------

    def _record(self, method: str, address: str | None, request: Any = None,
                **fields: Any) -> None:
        with self._lock:
            self.calls.append(Call(method, address, request, fields))

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[dict[str, Any]]:
        with self._lock:
            yield self._objects

    # -- the protocol ---------------------------------------------------------------------------

    def resource_schema(self, type_: str) -> ResourceSchema:
        found = self.schemas.get(type_)
        return found if found is not None else ResourceSchema(type=type_, computed=("id",))

    def schema(self) -> ProviderSchema:
        return ProviderSchema(name=self.name, resources=tuple(self.schemas.values()))

    def configure(self, request: ConfigureRequest) -> list[ProviderDiagnostic]:
        self._record("configure", None, request, config=request.config)
        return list(self.diagnostics.get(("configure", None), ()))

    def validate(self, request: ValidateRequest) -> list[ProviderDiagnostic]:
        address = f"{request.type}.{request.name}"
        self._record("validate", address, request, config=request.config)
        problems = [ProviderDiagnostic(f"`{key}` cannot be set", attribute=key)
                    for key in self.resource_schema(request.type).computed
                    if key in request.config]
        return problems + list(self.diagnostics.get(("validate", address), ()))

    def read(self, request: ReadRequest) -> ReadResponse:
        address = f"{request.type}.{request.name}"
        self._record("read", address, request)
        with self._transaction(write=False) as data:
            found = data["objects"].get(address)
        return ReadResponse(state=copy.deepcopy(found) if found is not None else None,
                            diagnostics=tuple(self.diagnostics.get(("read", address), ())))

    def plan(self, request: PlanRequest) -> PlanResponse:
        address = f"{request.type}.{request.name}"
        self._record("plan", address, request, prior=request.prior, config=request.config)
        schema = self.resource_schema(request.type)
        planned = {k: v for k, v in request.config.items() if k not in schema.computed}
        prior = request.prior
        replaced = prior is not None and any(prior.get(k) != planned.get(k)
                                             for k in schema.force_new)
        for key in schema.computed:
            keep = prior is not None and key in prior and not replaced
            planned[key] = prior[key] if keep else dict(UNKNOWN)
        return PlanResponse(planned=planned, requires_replace=schema.force_new,
                            diagnostics=tuple(self.diagnostics.get(("plan", address), ())))

    def apply(self, request: ApplyRequest) -> ApplyResponse:
        address = f"{request.type}.{request.name}"
        action = ("delete" if request.planned is None
                  else "create" if request.prior is None else "update")
        self._record("apply_start", address, request, action=action)
        if self.apply_delay:
            time.sleep(self.apply_delay)
        if address in self.apply_failures:
            self._record("apply_failed", address, request, action=action)
            return ApplyResponse(state=request.prior, diagnostics=(ProviderDiagnostic(
                self.apply_failures[address], detail="FLOWPLAN_RECORDER_FAIL"),))
        with self._transaction() as data:
            if request.planned is None:
                data["objects"].pop(address, None)
                state = None
            else:
                state = self._new_object(request, data)
                data["objects"][address] = state
        self._record("apply", address, request, action=action,
                     id=state.get("id") if state else None)
        return ApplyResponse(state=copy.deepcopy(state) if state is not None else None)

    def _new_object(self, request: ApplyRequest, data: dict[str, Any]) -> dict:
        """The clear config apply was handed, with computed values: kept from the prior object
        on an update, else new (`TYPE-N` for an id) unless a test set them."""
        address = f"{request.type}.{request.name}"
        clear = request.config if request.config is not None else request.planned
        state = copy.deepcopy(clear)
        chosen = {**self.computed_values.get(request.type, {}),
                  **self.computed_values.get(address, {})}
        number = None
        for key in self.resource_schema(request.type).computed:
            if request.prior is not None and key in request.prior:
                state[key] = request.prior[key]
            elif key in chosen:
                state[key] = chosen[key]
            else:
                if number is None:
                    number = data["next_id"]
                    data["next_id"] += 1
                state[key] = f"{request.type}-{number}" if key == "id" else f"{key}-{number}"
        return state

    def import_resource(self, request: ImportRequest) -> ImportResponse:
        address = f"{request.type}.{request.name}"
        self._record("import", address, request, id=request.id)
        with self._transaction(write=False) as data:
            found = data["objects"].get(address)
        if found is None or found.get("id") != request.id:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"No {request.type} with id {request.id!r}"),))
        return ImportResponse(state=copy.deepcopy(found))


_FILE_LOCK = threading.Lock()        # one process may hold several instances (alicloud, github)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


class RecorderProvider(MockProvider):
    """MockProvider configured by FLOWPLAN_RECORDER_*, its objects and call log in files."""

    name = "recorder"

    def __init__(self) -> None:
        raw = os.environ.get("FLOWPLAN_RECORDER_FORCE_NEW")
        force_new = ("name",) if raw is None else tuple(
            item.strip() for item in raw.split(",") if item.strip())
        super().__init__(schemas_for(force_new=force_new), name="recorder",
                         apply_delay=float(os.environ.get("FLOWPLAN_RECORDER_APPLY_DELAY") or 0))
        self.log_path = os.environ.get("FLOWPLAN_RECORDER_LOG")
        self.db_path = os.environ.get("FLOWPLAN_RECORDER_DB")
        self.fail_apply(*filter(None, os.environ.get("FLOWPLAN_RECORDER_FAIL", "").split(",")))

    def _record(self, method: str, address: str | None, request: Any = None,
                **fields: Any) -> None:
        if not self.log_path:
            return
        type_, _, name = (address or "").partition(".")
        where = {"type": type_, "name": name} if address else {}
        line = json.dumps(_jsonable({"method": method, "pid": os.getpid(), "time": time.time(),
                                     **where, **fields}))
        with _FILE_LOCK, open(self.log_path, "a", encoding="utf-8") as log:
            log.write(line + "\n")
            log.flush()

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[dict[str, Any]]:
        if not self.db_path:
            with super()._transaction(write) as data:
                yield data
            return
        path = Path(self.db_path)
        with _FILE_LOCK:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                data = {"objects": {}, "next_id": 1}
            yield data
            if write:
                temp = path.with_name(path.name + f".{os.getpid()}.tmp")
                temp.write_text(json.dumps(data, indent=2), encoding="utf-8")
                os.replace(temp, path)

"""RecorderProvider: a test-only provider that records every call and keeps fake "real objects".

Loaded through `FLOWPLAN_PROVIDER_PLUGINS=alicloud=recorder_provider:RecorderProvider,...` with
this directory on PYTHONPATH, it stands in for the alicloud and github providers that do not exist
yet: it declares the `acr_namespace`, `acr_repository` and `webhook` resource types with their
block models (as a real provider owns its schemas), so tests can drive them through the CLI
without a cloud.

Environment:
    FLOWPLAN_RECORDER_LOG          append one JSON line per call (method, type, name, pid, ...)
    FLOWPLAN_RECORDER_DB           JSON file holding the "real objects" by address, so that a
                                   refresh in a later process sees what an earlier one created
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

import json
import os
import threading
import time
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

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

_FILE_LOCK = threading.Lock()        # one provider instance serves apply's worker threads


def _force_new() -> tuple[str, ...]:
    raw = os.environ.get("FLOWPLAN_RECORDER_FORCE_NEW")
    if raw is None:
        return ("name",)
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


class RecorderProvider:
    """Serves the types in TYPES; records calls; objects live in a JSON file."""

    name = "recorder"

    def __init__(self) -> None:
        self.log_path = os.environ.get("FLOWPLAN_RECORDER_LOG")
        self.db_path = os.environ.get("FLOWPLAN_RECORDER_DB")
        self.delay = float(os.environ.get("FLOWPLAN_RECORDER_APPLY_DELAY") or 0)
        self._memory: dict[str, Any] = {"objects": {}, "next_id": 1}

    # -- recording and the object file ----------------------------------------------------------

    def _record(self, method: str, **fields: Any) -> None:
        if not self.log_path:
            return
        line = json.dumps(_jsonable({"method": method, "pid": os.getpid(),
                                     "time": time.time(), **fields}))
        with _FILE_LOCK, open(self.log_path, "a", encoding="utf-8") as log:
            log.write(line + "\n")
            log.flush()

    def _load(self) -> dict[str, Any]:
        if not self.db_path:
            return self._memory
        try:
            return json.loads(Path(self.db_path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"objects": {}, "next_id": 1}

    def _save(self, data: dict[str, Any]) -> None:
        if not self.db_path:
            self._memory = data
            return
        path = Path(self.db_path)
        temp = path.with_name(path.name + f".{os.getpid()}.tmp")
        temp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(temp, path)

    # -- the protocol ---------------------------------------------------------------------------

    def schema(self) -> ProviderSchema:
        force_new = _force_new()
        return ProviderSchema(name=self.name, resources=tuple(
            ResourceSchema(type=t, computed=computed, force_new=force_new, model=model)
            for t, (model, computed) in TYPES.items()))

    def configure(self, request: ConfigureRequest) -> list[ProviderDiagnostic]:
        self._record("configure", config=request.config)
        return []

    def validate(self, request: ValidateRequest) -> list[ProviderDiagnostic]:
        self._record("validate", type=request.type, name=request.name, config=request.config)
        if "id" in request.config:
            return [ProviderDiagnostic("`id` cannot be set", attribute="id")]
        return []

    def read(self, request: ReadRequest) -> ReadResponse:
        self._record("read", type=request.type, name=request.name)
        with _FILE_LOCK:
            found = self._load()["objects"].get(f"{request.type}.{request.name}")
        return ReadResponse(state=dict(found) if found is not None else None)

    def plan(self, request: PlanRequest) -> PlanResponse:
        self._record("plan", type=request.type, name=request.name, prior=request.prior,
                     config=request.config)
        force_new = _force_new()
        planned = {k: v for k, v in request.config.items() if k != "id"}
        prior = request.prior
        replaced = prior is not None and any(prior.get(k) != planned.get(k) for k in force_new)
        planned["id"] = prior["id"] if prior is not None and "id" in prior and not replaced \
            else dict(UNKNOWN)
        return PlanResponse(planned=planned, requires_replace=force_new)

    def apply(self, request: ApplyRequest) -> ApplyResponse:
        address = f"{request.type}.{request.name}"
        action = ("delete" if request.planned is None
                  else "create" if request.prior is None else "update")
        self._record("apply_start", type=request.type, name=request.name, action=action)
        if self.delay:
            time.sleep(self.delay)
        failing = os.environ.get("FLOWPLAN_RECORDER_FAIL", "").split(",")
        if address in failing:
            self._record("apply_failed", type=request.type, name=request.name, action=action)
            return ApplyResponse(state=request.prior, diagnostics=(ProviderDiagnostic(
                f"The recorder was told to fail {address}", detail="FLOWPLAN_RECORDER_FAIL"),))
        with _FILE_LOCK:
            data = self._load()
            if request.planned is None:
                data["objects"].pop(address, None)
                state = None
            else:
                if request.prior is not None and "id" in request.prior:
                    identifier = request.prior["id"]
                else:
                    identifier = f"{request.type}-{data['next_id']}"
                    data["next_id"] += 1
                clear = request.config if request.config is not None else request.planned
                state = {**clear, "id": identifier}
                data["objects"][address] = state
            self._save(data)
        self._record("apply", type=request.type, name=request.name, action=action,
                     id=state["id"] if state else None)
        return ApplyResponse(state=dict(state) if state is not None else None)

    def import_resource(self, request: ImportRequest) -> ImportResponse:
        self._record("import", type=request.type, name=request.name, id=request.id)
        with _FILE_LOCK:
            found = self._load()["objects"].get(f"{request.type}.{request.name}")
        if found is None or found.get("id") != request.id:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"No {request.type} with id {request.id!r}"),))
        return ImportResponse(state=dict(found))

"""KubernetesProvider: the `kubernetes_namespace` resource, a namespace with labels.

    kubernetes_namespace "web" {
      name   = "web-prod"
      labels = { team = "web" }
    }

`plan` proposes the config with the prior `uid` (a new one after apply when `name` changes,
which replaces the namespace). `apply` creates or updates it by server-side apply (field manager
`flowplan`, forcing: the labels flowplan manages are flowplan's) and deletes it. `read` fetches
it: gone, or terminating, means deleted outside flowplan (plan creates it again); labels flowplan
manages that were changed or removed by hand come back as drift (labels others added are left
alone). `import_resource` reads an existing namespace by its name. The cluster is the
`provider "kubernetes"` block's (flowplan_providers.kubernetes.settings), connected on first use.
"""

from __future__ import annotations

import threading

from flowplan.config.schema import BlockModel
from flowplan.plan.decide import same_value
from flowplan.providers import (ApplyRequest, ApplyResponse, Attributes, ConfigureRequest,
                                ImportRequest, ImportResponse, PlanRequest, PlanResponse,
                                ProviderDiagnostic, ProviderSchema, ReadRequest, ReadResponse,
                                ResourceSchema, ValidateRequest)
from flowplan.values import KNOWN_AFTER_APPLY, contains_unknown

from .cluster import Cluster, ClusterError, ClusterSettings, connect
from .labels import label_problem, name_problem
from .settings import read_settings

AUTOMATIC_LABEL = "kubernetes.io/metadata.name"     # the API server sets it on every namespace


class KubernetesNamespace(BlockModel):
    name: str
    labels: dict[str, str] = {}


NAMESPACE = ResourceSchema(
    type="kubernetes_namespace", model=KubernetesNamespace, computed=("uid",),
    force_new=("name",), description="A Kubernetes namespace, with labels")

SCHEMA = ProviderSchema(name="kubernetes", resources=(NAMESPACE,), reads=("kubernetes",))


class KubernetesProvider:
    """Namespaces of the cluster the `provider "kubernetes"` block names."""

    name = "kubernetes"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: ClusterSettings | None = None
        self._problems: list[ProviderDiagnostic] = []
        self._cluster: Cluster | None = None

    def schema(self) -> ProviderSchema:
        return SCHEMA

    def configure(self, request: ConfigureRequest) -> list[ProviderDiagnostic]:
        settings, problems = read_settings(request.config, request.blocks.get("kubernetes"),
                                           request.working_dir)
        with self._lock:
            self._close()
            self._settings = settings
            self._problems = problems
        return problems

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    # -- offline --------------------------------------------------------------------------------

    def validate(self, request: ValidateRequest) -> list[ProviderDiagnostic]:
        if request.type != NAMESPACE.type:
            return [_unknown_type(request.type)]
        found = []
        name = request.config.get("name")
        if isinstance(name, str):
            problem = name_problem(name)
            if problem:
                found.append(ProviderDiagnostic("Invalid namespace name", detail=problem,
                                                attribute="name"))
        labels = request.config.get("labels")
        if isinstance(labels, dict) and not contains_unknown(labels):
            for key, value in labels.items():
                problem = label_problem(key, value)
                if problem:
                    found.append(ProviderDiagnostic("Invalid label", detail=problem,
                                                    attribute="labels"))
        return found

    def plan(self, request: PlanRequest) -> PlanResponse:
        if request.type != NAMESPACE.type:
            return PlanResponse(planned=dict(request.config),
                                diagnostics=(_unknown_type(request.type),))
        planned: Attributes = {"labels": {}, **{k: v for k, v in request.config.items()
                                                if k not in NAMESPACE.computed}}
        prior = request.prior
        replaced = prior is None or not prior.get("uid") or not same_value(
            prior.get("name"), planned.get("name"))
        planned["uid"] = KNOWN_AFTER_APPLY.marker() if replaced else prior["uid"]
        return PlanResponse(planned=planned, requires_replace=NAMESPACE.force_new)

    # -- the cluster ----------------------------------------------------------------------------

    def read(self, request: ReadRequest) -> ReadResponse:
        state = request.state
        name = state.get("name")
        if not isinstance(name, str) or name_problem(name):
            return ReadResponse(state=state, diagnostics=(ProviderDiagnostic(
                f"Cannot read kubernetes_namespace.{request.name}",
                detail="the state holds no namespace name for it: `flowplan state rm` it and "
                       "import it again"),))
        try:
            found = self._connected().get("v1", "Namespace", name, None)
        except ClusterError as error:
            return ReadResponse(state=state, diagnostics=(ProviderDiagnostic(
                f"Cannot read kubernetes_namespace.{request.name}", detail=str(error)),))
        if found is None or _terminating(found):
            return ReadResponse(state=None)          # deleted outside flowplan: created again
        managed = state.get("labels") if isinstance(state.get("labels"), dict) else {}
        labels = _labels(found)
        return ReadResponse(state={**state, "uid": _uid(found),
                                   "labels": {k: labels[k] for k in managed if k in labels}})

    def apply(self, request: ApplyRequest) -> ApplyResponse:
        prior, planned = request.prior, request.planned
        address = f"kubernetes_namespace.{request.name}"
        try:
            cluster = self._connected()
            if planned is None:
                if prior and isinstance(prior.get("name"), str):
                    cluster.delete("v1", "Namespace", prior["name"], None)
                return ApplyResponse(state=None)
            labels = dict(planned.get("labels") or {})
            body = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": planned["name"], "labels": labels}}
            applied = cluster.apply([body], namespace="", force=True)[0]
            return ApplyResponse(state={**planned, "labels": labels, "uid": _uid(applied)})
        except ClusterError as error:
            verb = "delete" if planned is None else "create" if prior is None else "update"
            return ApplyResponse(state=prior, diagnostics=(ProviderDiagnostic(
                f"Cannot {verb} {address}", detail=str(error)),))

    def import_resource(self, request: ImportRequest) -> ImportResponse:
        if request.type != NAMESPACE.type:
            return ImportResponse(state=None, diagnostics=(_unknown_type(request.type),))
        name = request.id
        problem = name_problem(name)
        if problem:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"Cannot import kubernetes_namespace.{request.name} from {name[:80]!r}",
                detail=f"{problem}; the id of a namespace is its name"),))
        try:
            found = self._connected().get("v1", "Namespace", name, None)
        except ClusterError as error:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"Cannot import kubernetes_namespace.{request.name}", detail=str(error)),))
        if found is None:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"Cannot import kubernetes_namespace.{request.name}",
                detail=f"the cluster has no namespace {name!r}"),))
        labels = _labels(found)
        wanted = (request.config or {}).get("labels")
        if isinstance(wanted, dict) and not contains_unknown(wanted):
            labels = {k: v for k, v in labels.items() if k in wanted}
        else:
            labels.pop(AUTOMATIC_LABEL, None)
        return ImportResponse(state={"name": name, "labels": labels, "uid": _uid(found)})

    def _connected(self) -> Cluster:
        with self._lock:
            if self._cluster is None:
                if self._settings is None:
                    reason = "; ".join(f"{p.summary}: {p.detail}" for p in self._problems) or \
                        ("it is missing or empty: give kubeconfig (and context), or host, "
                         "token and ca")
                    raise ClusterError(f'the provider "kubernetes" block is not usable: '
                                       f"{reason}")
                self._cluster = connect(self._settings)
            return self._cluster


def _labels(obj: dict) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels")
    if not isinstance(labels, dict):
        return {}
    return {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}


def _uid(obj: dict) -> str:
    uid = (obj.get("metadata") or {}).get("uid")
    return uid if isinstance(uid, str) else ""


def _terminating(obj: dict) -> bool:
    return (obj.get("status") or {}).get("phase") == "Terminating" or \
        bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def _unknown_type(type_: str) -> ProviderDiagnostic:
    return ProviderDiagnostic(f"The kubernetes provider has no resource type {type_!r}",
                              detail="it manages kubernetes_namespace")


__all__ = ["KubernetesProvider", "SCHEMA"]

"""The `kubectl_apply` step type: manifests of the workspace applied to a Kubernetes cluster by
server-side apply (field manager `flowplan`), then the rollout of their Deployments,
StatefulSets and DaemonSets waited for.

    step "deploy" {
      type      = "kubectl_apply"
      cluster   = { kubeconfig = "/etc/flowplan/prod.kubeconfig", context = "prod" }
      namespace = "web"                               # default: "default"
      manifests = "k8s/"                              # a file, a directory or a glob
      variables = { IMAGE = steps.service.image.image, REPLICAS = 3 }
      prune     = true                                # delete what an earlier apply left
      timeout   = "5m"                                # the rollout wait
    }

`cluster` is optional: without it, the `provider "kubernetes"` block is used (so one config can
deploy to two clusters). Its `token` should come from a sensitive variable. `force_conflicts`
takes over fields another field manager owns (else the conflict fails the step, naming each field
and its manager); `replace = true` replaces objects (PUT) instead of applying them.

Order: everything checked before the cluster is touched (the manifests, each placeholder, the
cluster settings); the rendered manifests (with the tracking label, Secrets without their data)
are kept as the run artifact `<task>.<step>.manifests.yaml`, so a rollback can apply them again
without a checkout; then the objects are applied, namespaces and configuration first, workloads
last. `prune` then deletes objects that carry this step's label
(`flowplan.dev/step=<pipeline>.<stage>.<task>.<step>`) but are no longer in the manifests,
looking at the kinds of the manifests and the usual namespaced kinds the server offers. Last, the
rollout is waited for: a timeout fails the step listing the pods that are not ready and why.

`strategy = "rolling"` is this module's; `blue_green` and `canary`, with their blocks
(`blue_green { service, keep_old }`, `canary { steps, analysis }`), are
flowplan_providers.kubernetes.strategies' (`run(strategy, context, cluster, objects, config,
log)`), whose Outcome `strategy_result` turns into the step's result (prune keeps what the
strategy applied or kept). In a rollback run the manifests are the kept artifact of the run
rolled back to (`kept_manifests`), not the workspace's. Outputs: `applied`
(`Kind/NAMESPACE/NAME` or `Kind/NAME`, separated by spaces), `namespace`, `pruned` (likewise)
and `manifests` (the artifact's name); blue/green adds `colour`, `previous_colour`, `service`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any, Optional

from pathlib import Path
from typing import Annotated

from pydantic import field_validator, model_validator

from flowplan.config.schema import Nested, Step, _check_duration, parse_duration
from flowplan.executor.errors import PathEscape
from flowplan.executor.run.layout import inside
from flowplan.executor.status import Status
from flowplan.executor.step_type import StepContext, StepResult
from flowplan.steps.reports import write_report

from .cluster import Cluster, ClusterError, ClusterSettings, connect
from .labels import STEP_ANNOTATION, STEP_LABEL, name_problem, step_label_value
from .manifests import (ManifestError, identity, manifest_files, parse_rendered,
                        read_manifests, rendered_text)
from .settings import ATTRIBUTES, relative_to, settings_from
from . import strategies as _strategies
from .strategies import BlueGreen, Canary, Outcome

ROLLING = "rolling"
DEFAULT_TIMEOUT = "5m"

# Applied first to last (as kubectl and Helm order them); other kinds come before workloads.
APPLY_ORDER = ("Namespace", "CustomResourceDefinition", "ServiceAccount", "Secret", "ConfigMap",
               "PersistentVolume", "PersistentVolumeClaim", "ClusterRole", "ClusterRoleBinding",
               "Role", "RoleBinding", "Service")
WORKLOADS = ("DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "Pod", "Job", "CronJob",
             "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget")

# Namespaced kinds prune looks at besides those of the manifests (when the server has them).
PRUNE_KINDS = (("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"),
               ("v1", "ServiceAccount"), ("v1", "PersistentVolumeClaim"),
               ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"),
               ("batch/v1", "Job"), ("batch/v1", "CronJob"),
               ("networking.k8s.io/v1", "Ingress"))


def strategy_names() -> tuple[str, ...]:
    """The strategies this flowplan can run."""
    extra = tuple(getattr(_strategies, "NAMES", ())) if _strategies is not None else ()
    return (ROLLING, *(name for name in extra if name != ROLLING))


class KubectlApplyStep(Step):
    """`type = "kubectl_apply"`: manifests applied to a cluster, the rollout waited for."""

    cluster: Optional[dict[str, Any]] = None
    namespace: str = "default"
    manifests: str
    variables: dict[str, Any] = {}
    replace: bool = False
    prune: bool = False
    force_conflicts: bool = False
    timeout: str = DEFAULT_TIMEOUT
    strategy: str = ROLLING
    blue_green: Annotated[Optional[BlueGreen], Nested(labels=0, many=False)] = None
    canary: Annotated[Optional[Canary], Nested(labels=0, many=False)] = None

    _duration = field_validator("timeout")(_check_duration)

    @model_validator(mode="before")
    @classmethod
    def _strategy_blocks(cls, values: Any) -> Any:
        """A `blue_green` or `canary` block goes with its strategy, and that strategy needs
        it; `replace` is the rolling strategy's."""
        if not isinstance(values, Mapping):
            return values
        strategy = values.get("strategy") or ROLLING
        if not isinstance(strategy, str):
            return values                   # known when the run resolves it
        for block in ("blue_green", "canary"):
            given = values.get(block) is not None
            if given and strategy != block:
                raise ValueError(f'a {block} block goes with strategy = "{block}", not '
                                 f'"{strategy}"')
            if strategy == block and not given:
                example = ('blue_green { service = "NAME" }' if block == "blue_green" else
                           'canary { steps = [{ weight = 20, pause = "manual" }] }')
                raise ValueError(f'strategy = "{block}" needs a {example} block')
        if strategy != ROLLING and values.get("replace") is True:
            raise ValueError(f'replace = true goes with the rolling strategy, not "{strategy}"')
        return values

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        if value is None:
            return value
        unknown = sorted(set(value) - set(ATTRIBUTES))
        if unknown:
            raise ValueError(f"cluster has no attribute {unknown[0]!r}: it takes "
                             + ", ".join(ATTRIBUTES))
        if not any(value.get(name) for name in ("kubeconfig", "host")):
            raise ValueError("cluster needs `kubeconfig` (and `context`), or `host` with "
                             "`token` and `ca`")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        problem = name_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, item in value.items():
            if not name.replace("_", "a").isalnum() or not name.isascii() or name[0].isdigit():
                raise ValueError(f"variable {name[:60]!r} is not a name (letters, digits and "
                                 "'_'): manifests refer to it as ${NAME}")
            if not isinstance(item, (str, int, float, bool)):
                raise ValueError(f"variable {name!r} must be text, a number or true/false"
                                 + (" (it is null)" if item is None else ""))
        return value

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        names = strategy_names()
        if value in names:
            return value
        if value in ("blue_green", "canary"):
            raise ValueError(f"strategy {value!r} is not available in this flowplan (its "
                             "flowplan_providers.kubernetes.strategies is not installed): use "
                             "\"rolling\"")
        raise ValueError(f"strategy {value[:40]!r} is not one of "
                         + ", ".join(f'"{n}"' for n in (ROLLING, "blue_green", "canary")))


class StepProblem(Exception):
    """What keeps the step from applying; the text is safe to show."""


class KubectlApplyStepType:
    name = "kubectl_apply"
    config_model = KubectlApplyStep

    def run(self, context: StepContext) -> StepResult:
        config: KubectlApplyStep = context.config
        say = _sayer(context)
        try:
            settings = cluster_settings(context, config)
            objects, sources = kept_manifests(context) or render(context, config)
            refuse_sensitive_in_clear(context, objects)
        except (StepProblem, ManifestError, PathEscape) as exc:
            return StepResult(Status.FAILED, error=str(exc))
        artifact = write_report(context, artifact_name(context),
                                rendered_text(objects).encode("utf-8"))
        say(f"{len(objects)} object{'s' if len(objects) != 1 else ''} from "
            f"{', '.join(sources)}; kept as {artifact.name}")
        try:
            cluster = connect(settings)
        except ClusterError as exc:
            return StepResult(Status.FAILED, error=str(exc), artifacts=(artifact,))
        try:
            if config.strategy != ROLLING:
                outcome = _strategies.run(config.strategy, context, cluster, objects, config,
                                          say)
                return strategy_result(outcome, context, config, cluster, artifact, say)
            return rolling(context, config, cluster, objects, artifact, say)
        finally:
            cluster.close()


def refuse_sensitive_in_clear(context: StepContext, objects: list[dict]) -> None:
    """Refuse, before the cluster is touched, an object other than a Secret that would carry a
    sensitive value of the run: the rendered manifests are kept as an artifact (a file), where
    no secret may be in clear, and a Secret's data is the one part that is not kept."""
    for obj in objects:
        text = rendered_text([obj])
        if context.mask(text) != text:
            meta = obj.get("metadata") or {}
            raise StepProblem(
                f"{obj.get('kind')} {meta.get('name')} would hold a sensitive value in clear "
                "(the rendered manifests are kept with the run): put the value in a Secret and "
                "refer to it (secretKeyRef, envFrom, a volume); a Secret's data is not kept")


def rolling(context: StepContext, config: KubectlApplyStep, cluster: Cluster,
            objects: list[dict], artifact: Any, say: Any) -> StepResult:
    """Apply (or replace) every object, prune, wait for the rollout."""
    verb = "replaced" if config.replace else "applied"
    if context.cancel.is_set():
        return StepResult(Status.CANCELED, error="canceled", artifacts=(artifact,))
    try:
        results = apply_objects(cluster, objects, config, say)
        pruned = prune(cluster, context, config, objects, say) if config.prune else []
        if context.cancel.is_set():
            return StepResult(Status.CANCELED, error="canceled", artifacts=(artifact,))
        timeout = rollout_timeout(context, config)
        cluster.wait_rollout(results, timeout=timeout, log=say, cancel=context.cancel)
    except ClusterError as exc:
        if exc.reason == "Canceled":
            return StepResult(Status.CANCELED, error="canceled while waiting for the rollout",
                              artifacts=(artifact,))
        return StepResult(Status.FAILED, error=str(exc), artifacts=(artifact,))
    names = [object_name(obj, config.namespace) for obj in results]
    summary = {"title": f"{verb} {len(results)} object{'s' if len(results) != 1 else ''} to "
                        f"{cluster.name}" + (f", pruned {len(pruned)}" if pruned else ""),
               "lines": [*names, *(f"pruned {name}" for name in pruned)],
               "applied": names, "pruned": pruned, "cluster": cluster.name,
               "namespace": config.namespace, "strategy": ROLLING}
    say(summary["title"])
    return StepResult(Status.SUCCEEDED, exit_code=0, artifacts=(artifact,), summary=summary,
                      outputs={"applied": " ".join(names), "pruned": " ".join(pruned),
                               "namespace": config.namespace, "manifests": artifact.name})


def strategy_result(outcome: Outcome, context: StepContext, config: KubectlApplyStep,
                    cluster: Cluster, artifact: Any, say: Any) -> StepResult:
    """The StepResult of a blue_green or canary Outcome: prune (what the strategy applied or
    kept stays), the outputs of a rolling apply and the strategy's own."""
    pruned: list[str] = []
    error = outcome.error
    status = outcome.status
    if status == Status.SUCCEEDED and config.prune:
        try:
            pruned = prune(cluster, context, config, [*outcome.applied, *outcome.kept], say)
        except ClusterError as exc:
            status, error = Status.FAILED, f"deployed, but prune failed: {exc}"
    names = [object_name(obj, config.namespace) for obj in outcome.applied]
    outputs = {**({"applied": " ".join(names), "pruned": " ".join(pruned),
                   "namespace": config.namespace, "manifests": artifact.name}
                  if status == Status.SUCCEEDED else {}), **outcome.outputs}
    summary = dict(outcome.summary or {})
    if summary:
        summary.update(strategy=config.strategy, cluster=cluster.name,
                       namespace=config.namespace, applied=names, pruned=pruned)
        summary["lines"] = [*(summary.get("lines") or []),
                            *(f"pruned {name}" for name in pruned)]
    if status == Status.SUCCEEDED and summary.get("title"):
        say(summary["title"])
    return StepResult(status, exit_code=0 if status == Status.SUCCEEDED else None, error=error,
                      outputs=outputs, artifacts=(artifact,), summary=summary or None)


def kept_manifests(context: StepContext) -> tuple[list[dict], list[str]] | None:
    """In a rollback (`flowplan rollback --to RUN`): RUN's rendered manifests, kept as its
    artifact (Secrets, whose data was not kept, left out); None in other runs, or when RUN
    kept none (then the workspace's are rendered)."""
    if context.run.trigger != "rollback":
        return None
    kept = context.artifact(artifact_name(context))
    if kept is None:
        return None
    try:
        text = Path(kept.path).read_text(encoding="utf-8")
    except OSError as exc:
        raise StepProblem(f"the manifests of the run rolled back to ({kept.name}) cannot be "
                          f"read: {exc.strerror}") from None
    objects = parse_rendered(text)
    if not objects:
        raise ManifestError(f"the manifests of the run rolled back to ({kept.name}) hold no "
                            "object to apply again")
    return objects, [f"{kept.name} of the run rolled back to"]


def apply_objects(cluster: Cluster, objects: list[dict], config: KubectlApplyStep,
                  say: Any) -> list[dict]:
    """Each object applied (or replaced) in APPLY_ORDER; the server's answers."""
    results: list[dict] = []
    for obj in ordered(objects):
        try:
            if config.replace:
                result = cluster.replace(obj, namespace=config.namespace)
            else:
                result = cluster.apply([obj], namespace=config.namespace,
                                       force=config.force_conflicts)[0]
        except ClusterError as exc:
            if results:
                done = ", ".join(object_name(r, config.namespace) for r in results)
                raise ClusterError(f"{exc} ({len(results)} of {len(objects)} objects were "
                                   f"applied before: {done})", reason=exc.reason,
                                   status=exc.status) from None
            raise
        name = object_name(result, config.namespace)
        say(f"{'replaced' if config.replace else 'applied'} {name}")
        results.append(result)
    return results


def prune(cluster: Cluster, context: StepContext, config: KubectlApplyStep,
          objects: list[dict], say: Any) -> list[str]:
    """Delete the objects with this step's label that are not among `objects`; their names."""
    label = step_label_value(step_address(context))
    keep = {identity(obj, config.namespace) for obj in objects}
    kinds = dict.fromkeys([*((str(o["apiVersion"]), str(o["kind"])) for o in objects),
                           *PRUNE_KINDS])
    namespaces = sorted({config.namespace, *(str((o.get("metadata") or {}).get("namespace"))
                                             for o in objects
                                             if (o.get("metadata") or {}).get("namespace"))})
    pruned = []
    for api_version, kind in kinds:
        try:
            namespaced = cluster.namespaced(api_version, kind)
        except ClusterError as exc:
            if exc.status == 404:          # a kind this server does not serve: nothing to prune
                continue
            raise
        for namespace in (namespaces if namespaced else [None]):
            for found in cluster.list(api_version, kind, namespace, f"{STEP_LABEL}={label}"):
                if identity(found, namespace) in keep or _owned(found):
                    continue
                meta = found.get("metadata") or {}
                annotation = (meta.get("annotations") or {}).get(STEP_ANNOTATION)
                if annotation is not None and annotation != step_address(context):
                    continue               # another step whose cut label is the same
                if cluster.delete(api_version, kind, str(meta.get("name")), namespace):
                    name = object_name(found, config.namespace)
                    say(f"pruned {name}: no longer in the manifests")
                    pruned.append(name)
    return pruned


def _owned(obj: dict) -> bool:
    """An object a controller made (a Deployment's ReplicaSet): its owner's deletion takes it."""
    return bool((obj.get("metadata") or {}).get("ownerReferences"))


def cluster_settings(context: StepContext, config: KubectlApplyStep) -> ClusterSettings:
    """The step's `cluster`, else the `provider "kubernetes"` block; StepProblem."""
    where = "cluster"
    values: Mapping[str, Any] | None = config.cluster
    if values is None:
        values = context.provider_block("kubernetes")
        where = 'the provider "kubernetes" block'
        if not isinstance(values, Mapping) or not values:
            raise StepProblem("kubectl_apply needs a cluster: set `cluster = { kubeconfig = "
                              "\"...\", context = \"...\" }` or `{ host, token, ca }` on the "
                              "step, or write a provider \"kubernetes\" block")
    if config.cluster is None:                 # the block's relative paths: the config directory
        values = relative_to(values, context.layout.settings.base_dir)
    values = dict(values)
    for name in ("kubeconfig", "ca"):
        values[name] = _local_path(context, values.get(name), name, where)
    settings, problem, attribute = settings_from(values)
    if problem:
        raise StepProblem(f"{where}: {problem}")
    assert settings is not None
    return settings


def _local_path(context: StepContext, value: Any, name: str, where: str) -> Any:
    """A kubeconfig or CA path: absolute or `~/...` as given (a file of this machine), relative
    ones (of the step's `cluster`) in the workspace; PEM text stays as it is."""
    if not isinstance(value, str) or not value or "-----BEGIN" in value:
        return value
    if os.path.isabs(value) or value.startswith("~"):
        return os.path.expanduser(value)
    try:
        return str(inside(context.workspace, value, f"{where} {name}"))
    except PathEscape as exc:
        raise StepProblem(str(exc)) from None


def render(context: StepContext, config: KubectlApplyStep) -> tuple[list[dict], list[str]]:
    """The objects of the manifests, placeholders filled and the tracking label set; the files
    read (relative to the workspace)."""
    files = manifest_files(context.workspace, config.manifests)
    found = read_manifests(context.workspace, files, dict(config.variables))
    address = step_address(context)
    label = step_label_value(address)
    objects = []
    for manifest in found:
        obj = manifest.object
        meta = dict(obj.get("metadata") or {})
        meta["labels"] = {**(meta.get("labels") or {}), STEP_LABEL: label}
        if label != address:
            meta["annotations"] = {**(meta.get("annotations") or {}), STEP_ANNOTATION: address}
        objects.append({**obj, "metadata": meta})
    return objects, sorted({m.file for m in found})


def ordered(objects: list[dict]) -> list[dict]:
    """`objects` in the order to apply them (stable within a rank)."""
    def rank(obj: dict) -> int:
        kind = obj.get("kind")
        if kind in APPLY_ORDER:
            return APPLY_ORDER.index(kind)
        if kind in WORKLOADS:
            return len(APPLY_ORDER) + 1 + WORKLOADS.index(kind)
        return len(APPLY_ORDER)
    return sorted(objects, key=rank)


def step_address(context: StepContext) -> str:
    return f"{context.run.pipeline}.{context.stage}.{context.task}.{context.step}"


def artifact_name(context: StepContext) -> str:
    return f"{context.task}.{context.step}.manifests.yaml"


def object_name(obj: dict, namespace: str | None) -> str:
    meta = obj.get("metadata") or {}
    where = meta.get("namespace")
    return f"{obj.get('kind')}/{where}/{meta.get('name')}" if where else \
        f"{obj.get('kind')}/{meta.get('name')}"


def rollout_timeout(context: StepContext, config: KubectlApplyStep) -> float:
    """The rollout wait: `timeout`, cut to what the step's deadline leaves."""
    timeout = float(parse_duration(config.timeout))
    if context.deadline is not None:
        timeout = max(0.0, min(timeout, context.deadline - time.monotonic()))
    return timeout


def _sayer(context: StepContext) -> Any:
    def say(text: str) -> None:
        context.log.say(text, time.time())
    return say


__all__ = ["KubectlApplyStep", "KubectlApplyStepType", "StepProblem", "cluster_settings",
           "render", "rolling", "strategy_names"]

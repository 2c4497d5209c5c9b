"""A connection to one Kubernetes cluster through the official `kubernetes` client: server-side
apply, get, list, merge patch, delete and waiting for rollouts, with every failure a
ClusterError whose text names the cluster and never holds a token.

    settings = ClusterSettings(kubeconfig="~/.kube/config", context="prod")
    cluster = connect(settings)           # discovery: 401, TLS and address problems show here
    cluster.apply(objects, namespace="web")
    cluster.wait_rollout(objects, timeout=300, log=print)

Settings come either from a kubeconfig file (flowplan_providers.kubernetes.kubeconfig reads it:
a token or client certificate, the CA; no exec plugins) or from `host`, `token` and `ca`. The
token goes into the client's Authorization header only: it is in no repr, message or file. The
dynamic client's discovery cache is written to a private temporary directory removed by
`close`. What to apply (manifests, placeholders, pruning) is the step's
(flowplan_providers.kubernetes.step); this module only talks to the API server.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROLLOUT_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
POLL_SECONDS = 0.1                   # between rollout checks, at first
POLL_MAX_SECONDS = 1.0
MAX_MESSAGE = 400                    # characters of a server's message kept in an error
NOT_READY_SHOWN = 10                 # pods listed when a rollout times out
KINDS_SHOWN = 60                     # kinds listed when the server has no such kind
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # one API answer (a list of many objects included)
REQUEST_TIMEOUT = (10.0, 60.0)       # seconds: connecting, then waiting for each answer


class ClusterError(Exception):
    """A failure talking to a cluster; str() is safe to show (it names the cluster, never a
    token). `reason` is the Status reason when the server gave one (NotFound, Conflict, ...)."""

    def __init__(self, message: str, *, reason: str | None = None, status: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class ClusterSettings:
    """Where a cluster is and how to authenticate: `kubeconfig` (+ `context`), or `host` +
    `token` + `ca` (a PEM file path, or PEM text). `insecure_skip_tls_verify` turns off
    certificate checks (local clusters only)."""

    kubeconfig: str | None = None
    context: str | None = None
    host: str | None = None
    token: str | None = field(default=None, repr=False)
    ca: str | None = None
    insecure_skip_tls_verify: bool = False

    def __repr__(self) -> str:                   # never the token, even by accident
        return (f"ClusterSettings(kubeconfig={self.kubeconfig!r}, context={self.context!r}, "
                f"host={self.host!r}, ca={'set' if self.ca else None}, "
                f"insecure_skip_tls_verify={self.insecure_skip_tls_verify!r})")

    def problem(self) -> str | None:
        """What makes the settings unusable before any connection, or None."""
        if self.kubeconfig and self.host:
            return "give either `kubeconfig` (and `context`) or `host`, not both"
        if self.context and not self.kubeconfig:
            return "`context` names a context of `kubeconfig`, which is not given"
        if not self.kubeconfig and not self.host:
            return "give `kubeconfig` (and `context`), or `host` with `token` and `ca`"
        if self.host:
            split = urlsplit(self.host)
            if split.scheme not in ("http", "https") or not split.hostname or split.username \
                    or split.password or split.query or split.fragment:
                return (f"host {self.host[:100]!r} is not an API server address: give "
                        "https://HOST[:PORT]")
            if self.token is not None and (not self.token.strip()
                                           or any(c in self.token for c in "\r\n\0")):
                return "`token` must be a non-empty line of text"
        return None

    @property
    def name(self) -> str:
        """How messages name the cluster."""
        if self.kubeconfig:
            return f"context {self.context!r} of {self.kubeconfig}" if self.context else \
                f"the current context of {self.kubeconfig}"
        return str(self.host)


def connect(settings: ClusterSettings) -> "Cluster":
    """A Cluster for `settings`, discovery done; ClusterError when the settings are unusable, the
    server is not reached or refuses the credentials."""
    problem = settings.problem()
    if problem:
        raise ClusterError(f"cluster settings: {problem}")
    try:
        from kubernetes import client as k8s_client
        from kubernetes.dynamic import DynamicClient
    except ImportError as exc:
        raise ClusterError(f"the kubernetes Python client is not installed ({exc}): pip "
                           "install kubernetes") from None
    from .kubeconfig import KubeconfigError, endpoint_from

    try:
        endpoint = endpoint_from(settings)
    except KubeconfigError as exc:
        raise ClusterError(str(exc)) from None
    scratch = Path(tempfile.mkdtemp(prefix="flowplan-k8s-"))
    try:
        configuration = k8s_client.Configuration()
        configuration.host = endpoint.server.rstrip("/")
        configuration.verify_ssl = not endpoint.insecure
        if endpoint.ca_pem:
            configuration.ca_cert_data = endpoint.ca_pem
        if endpoint.client_cert_file:
            configuration.cert_file = endpoint.client_cert_file
            configuration.key_file = endpoint.client_key_file
        if endpoint.token:
            configuration.api_key = {"authorization": endpoint.token}
            configuration.api_key_prefix = {"authorization": "Bearer"}
        configuration.retries = 0
        api_client = _bounded_client(k8s_client.ApiClient)(configuration)
        api_client.user_agent = "flowplan"
        cluster = Cluster(endpoint.name, api_client, scratch, endpoint)
        cluster._discover(DynamicClient)
        return cluster
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        endpoint.close()
        raise


class AnswerTooLarge(Exception):
    """An API answer past MAX_ANSWER_BYTES."""


def _bounded_client(base: type) -> type:
    """An ApiClient class whose requests time out (REQUEST_TIMEOUT) and whose answers are read up
    to MAX_ANSWER_BYTES (the client reads every body whole, however large, otherwise)."""

    class BoundedApiClient(base):  # type: ignore[misc, valid-type]
        def call_api(self, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("_request_timeout") is None:    # the client waits forever otherwise
                kwargs["_request_timeout"] = REQUEST_TIMEOUT
            answer = super().call_api(*args, **kwargs)
            raw = getattr(answer, "response", None)
            if raw is None or getattr(raw, "_body", None) or not hasattr(raw, "_body"):
                return answer
            body = raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
            if len(body) > MAX_ANSWER_BYTES:
                raw.close()                      # the rest unread: the connection goes too
                raise AnswerTooLarge()
            raw._body = body                     # what `.data` gives from now on
            answer.data = body
            return answer

    return BoundedApiClient


class Cluster:
    """One cluster reached with one set of credentials. Not shared between threads while a call
    runs; `close` when done (also a context manager)."""

    def __init__(self, name: str, api_client: Any, scratch: Path, endpoint: Any):
        self.name = name
        self._api = api_client
        self._scratch = scratch
        self._endpoint = endpoint
        self._dynamic: Any = None

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cluster({self.name!r})"

    def close(self) -> None:
        try:
            self._api.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        self._endpoint.close()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _discover(self, dynamic_client: Any) -> None:
        cache = str(self._scratch / "discovery.json")
        self._dynamic = self._call(lambda: dynamic_client(self._api, cache_file=cache),
                                   "reading the API groups")

    # -- resources ------------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Any:
        """The dynamic client's resource for (apiVersion, kind); ClusterError naming what the
        server offers when it has no such kind."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError

        try:
            return self._call(lambda: self._dynamic.resources.get(api_version=api_version,
                                                                  kind=kind),
                              f"looking up {kind} ({api_version})")
        except (ResourceNotFoundError, ResourceNotUniqueError):
            pass
        offered = self.offered_kinds()
        same_kind = sorted({version for version, name in offered if name == kind})
        names = sorted({name for _, name in offered})
        close = difflib.get_close_matches(kind, names, n=1)
        if same_kind:
            hint = f"it serves {kind} as {', '.join(same_kind)}"
        else:
            shown = names[:KINDS_SHOWN]
            more = f" and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
            hint = (f"did you mean {close[0]}? " if close else "") + \
                "it serves " + ", ".join(shown) + more
        raise ClusterError(f"cluster {self.name} has no kind {kind!r} in {api_version!r}: "
                           f"{hint}", reason="NotFound", status=404)

    def offered_kinds(self) -> list[tuple[str, str]]:
        """(apiVersion, kind) of every top-level resource the server offers."""
        try:
            found = self._call(lambda: self._dynamic.resources.search(), "listing API resources")
        except ClusterError:
            return []
        pairs = set()
        for item in found:
            kind = getattr(item, "kind", None)
            name = getattr(item, "name", "") or ""
            if isinstance(kind, str) and kind and "/" not in name and not kind.endswith("List"):
                pairs.add((str(getattr(item, "group_version", "")), kind))
        return sorted(pairs)

    def namespaced(self, api_version: str, kind: str) -> bool:
        return bool(getattr(self.resource(api_version, kind), "namespaced", False))

    # -- the K2 -> K3 interface -----------------------------------------------------------------

    def apply(self, objects: list[dict], *, namespace: str, force: bool = False,
              field_manager: str = "flowplan") -> list[dict]:
        """Server-side apply of each object (in the given order), namespaced ones into their
        own `metadata.namespace` or else `namespace`; the objects as the server returned them.
        ClusterError at the first that fails (a conflict names each field and its manager)."""
        results = []
        for obj in objects:
            api_version, kind, name = _identity(obj)
            resource = self.resource(api_version, kind)
            where = _namespace_of(obj, namespace) if resource.namespaced else None
            if resource.namespaced and not where:
                raise ClusterError(f"{kind} {name} is namespaced: give it a namespace")
            body = _with_namespace(obj, where)
            what = _describe(kind, name, where)
            answer = self._call(
                lambda: resource.server_side_apply(body=body, name=name, namespace=where,
                                                   field_manager=field_manager,
                                                   force_conflicts=force),
                f"applying {what}", namespace=where)
            results.append(self._checked(_plain(answer), kind, name))
        return results

    def replace(self, obj: dict, *, namespace: str) -> dict:
        """PUT `obj` over the object of its name (created when absent); the result."""
        api_version, kind, name = _identity(obj)
        resource = self.resource(api_version, kind)
        where = _namespace_of(obj, namespace) if resource.namespaced else None
        body = _with_namespace(obj, where)
        what = _describe(kind, name, where)
        current = self.get(api_version, kind, name, where)
        if current is None:
            answer = self._call(lambda: resource.create(body=body, namespace=where),
                                f"creating {what}", namespace=where)
        else:
            version = (current.get("metadata") or {}).get("resourceVersion")
            body = {**body, "metadata": {**body["metadata"], "resourceVersion": version}}
            answer = self._call(lambda: resource.replace(body=body, name=name, namespace=where),
                                f"replacing {what}", namespace=where)
        return _plain(answer)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self.resource(api_version, kind)
        where = namespace if resource.namespaced else None
        try:
            answer = self._call(lambda: resource.get(name=name, namespace=where),
                                f"reading {_describe(kind, name, where)}", raw=True)
        except NotFoundError:
            return None
        return self._checked(_plain(answer), kind, name)

    def list(self, api_version: str, kind: str, namespace: str | None,
             selector: str = "") -> list[dict]:
        resource = self.resource(api_version, kind)
        where = namespace if resource.namespaced else None
        answer = self._call(lambda: resource.get(namespace=where, label_selector=selector or None),
                            f"listing {kind}" + (f" in namespace {where}" if where else ""),
                            namespace=where)
        items = _plain(answer).get("items")
        if not isinstance(items, list):
            raise ClusterError(f"cluster {self.name} answered a list of {kind} without items")
        return [_with_kind(item, api_version, kind) for item in items if isinstance(item, dict)]

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None,
              patch: dict) -> dict:
        """A JSON merge patch of the object; the result."""
        resource = self.resource(api_version, kind)
        where = namespace if resource.namespaced else None
        answer = self._call(
            lambda: resource.patch(body=patch, name=name, namespace=where,
                                   content_type="application/merge-patch+json"),
            f"patching {_describe(kind, name, where)}", namespace=where)
        return _plain(answer)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> bool:
        """Delete the object (its dependents in the background); False when it was not
        there."""
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self.resource(api_version, kind)
        where = namespace if resource.namespaced else None
        try:
            self._call(lambda: resource.delete(name=name, namespace=where,
                                               body={"propagationPolicy": "Background"}),
                       f"deleting {_describe(kind, name, where)}", raw=True)
        except NotFoundError:
            return False
        return True

    def wait_rollout(self, objects: list[dict], *, timeout: float,
                     log: Callable[[str], None],
                     cancel: threading.Event | None = None) -> None:
        """Wait until every Deployment, StatefulSet and DaemonSet among `objects` has rolled
        out (observed generation, updated / ready / available replicas). ClusterError on
        timeout (with the pods not ready and their reasons), on a Deployment whose progress
        deadline passed, or when `cancel` is set (reason "Canceled")."""
        pending = [o for o in objects if o.get("kind") in ROLLOUT_KINDS]
        if not pending:
            return
        deadline = time.monotonic() + timeout
        reported: dict[str, str] = {}
        pause = POLL_SECONDS
        while pending:
            still = []
            for obj in pending:
                api_version, kind, name = _identity(obj)
                where = (obj.get("metadata") or {}).get("namespace")
                current = self.get(api_version, kind, name, where)
                what = _describe(kind, name, where)
                if current is None:
                    raise ClusterError(f"{what} was deleted while waiting for its rollout on "
                                       f"cluster {self.name}", reason="NotFound", status=404)
                progress = rollout_progress(current)
                if progress.failed:
                    raise ClusterError(f"{what} on cluster {self.name}: {progress.text}"
                                       + self._not_ready_text(current), reason="RolloutFailed")
                if progress.done:
                    log(f"{what}: rolled out ({progress.text})")
                    continue
                if reported.get(what) != progress.text:
                    log(f"{what}: {progress.text}")
                    reported[what] = progress.text
                still.append(current)
            pending = still
            if not pending:
                return
            if cancel is not None and cancel.is_set():
                raise ClusterError("canceled while waiting for the rollout", reason="Canceled")
            if time.monotonic() >= deadline:
                details = "; ".join(f"{_described(o)} ({rollout_progress(o).text})"
                                    for o in pending)
                pods = "".join(self._not_ready_text(o) for o in pending)
                raise ClusterError(f"rollout not finished after {_seconds(timeout)} on cluster "
                                   f"{self.name}: {details}{pods}", reason="Timeout")
            wait = min(pause, max(0.0, deadline - time.monotonic()))
            if cancel is not None:
                cancel.wait(wait)
            else:
                time.sleep(wait)
            pause = min(POLL_MAX_SECONDS, pause * 1.5)

    def _checked(self, answer: dict, kind: str, name: str) -> dict:
        """`answer` when it is the object asked for; ClusterError otherwise."""
        meta = _mapping(answer.get("metadata"))
        if answer.get("kind") not in (None, kind) or meta.get("name") != name:
            raise ClusterError(f"cluster {self.name} answered {_short(str(answer.get('kind')), 60)}"
                               f" {_short(str(meta.get('name')), 80)} when asked for {kind} "
                               f"{name}")
        return {"kind": kind, **answer}

    # -- pods -----------------------------------------------------------------------------------

    def not_ready_pods(self, workload: dict) -> list[str]:
        """`POD: REASON` for each pod of the workload that is not ready."""
        spec = _mapping(workload.get("spec"))
        selector = _selector_text(_mapping(spec.get("selector")).get("matchLabels"))
        if not selector:
            return []
        namespace = _mapping(workload.get("metadata")).get("namespace")
        try:
            pods = self.list("v1", "Pod", namespace, selector)
        except ClusterError:
            return []
        found = []
        for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name"))):
            reason = pod_not_ready_reason(pod)
            if reason is not None:
                found.append(f"{(pod.get('metadata') or {}).get('name')}: {reason}")
        return found

    def _not_ready_text(self, workload: dict) -> str:
        pods = self.not_ready_pods(workload)
        if not pods:
            return ""
        shown = pods[:NOT_READY_SHOWN]
        more = f" (and {len(pods) - len(shown)} more)" if len(pods) > len(shown) else ""
        return "; pods not ready: " + "; ".join(shown) + more

    # -- errors ---------------------------------------------------------------------------------

    def _call(self, action: Callable[[], Any], doing: str, *, namespace: str | None = None,
              raw: bool = False) -> Any:
        """`action()`, its failures as ClusterError (`raw`: a NotFoundError is let through)."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import (NotFoundError, ResourceNotFoundError,
                                                   ResourceNotUniqueError)

        try:
            answer = action()
        except (ResourceNotFoundError, ResourceNotUniqueError):
            raise
        except NotFoundError as exc:
            if raw:
                raise
            raise self._api_error(exc, doing, namespace) from None
        except ApiException as exc:
            raise self._api_error(exc, doing, namespace) from None
        except ClusterError:
            raise
        except AnswerTooLarge:
            raise ClusterError(f"{doing}: cluster {self.name} answered more than "
                               f"{MAX_ANSWER_BYTES // 2**20} MiB") from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # the client's JSON parsing or model building on an answer that is not what the
            # API promises
            raise ClusterError(f"{doing}: cluster {self.name} answered something that is not "
                               f"a Kubernetes API response ({type(exc).__name__})") from None
        except Exception as exc:  # noqa: BLE001 - urllib3 / ssl / socket errors
            raise ClusterError(f"{doing}: cannot reach cluster {self.name}: "
                               f"{_connection_text(exc)}") from None
        if isinstance(answer, (str, bytes)):
            # the dynamic client hands back the text of an answer that is not JSON
            raise ClusterError(f"{doing}: cluster {self.name} answered something that is not "
                               "JSON")
        return answer

    def _api_error(self, exc: Any, doing: str, namespace: str | None) -> ClusterError:
        code = getattr(exc, "status", None)
        status = _status_body(getattr(exc, "body", None))
        message = _short(str(status.get("message") or getattr(exc, "reason", "") or ""))
        reason = status.get("reason") if isinstance(status.get("reason"), str) else None
        if code == 401:
            return ClusterError(f"{doing}: cluster {self.name} refused the credentials (401 "
                                "Unauthorized): the token is wrong or expired", reason=reason
                                or "Unauthorized", status=401)
        if code == 403:
            return ClusterError(f"{doing}: cluster {self.name} forbids it (403): {message}",
                                reason=reason or "Forbidden", status=403)
        if code == 404 and namespace and _namespace_missing(status, namespace):
            return ClusterError(f"{doing}: namespace {namespace!r} does not exist on cluster "
                                f"{self.name}: create it (a kubernetes_namespace resource) or "
                                "set `namespace`", reason="NotFound", status=404)
        if code == 409 and reason == "Conflict":
            causes = _conflicts(status)
            if causes:
                return ClusterError(f"{doing}: conflicts on cluster {self.name}: "
                                    + "; ".join(causes) + ". Set force_conflicts = true to take "
                                    "these fields over, or leave them out of the manifest",
                                    reason="Conflict", status=409)
        text = f"{doing}: cluster {self.name} answered {code}"
        if reason:
            text += f" {reason}"
        if message:
            text += f": {message}"
        return ClusterError(text, reason=reason, status=code)


@dataclass(frozen=True)
class Progress:
    done: bool
    failed: bool
    text: str


def rollout_progress(obj: dict) -> Progress:
    """How far the rollout of a Deployment, StatefulSet or DaemonSet is, from its status."""
    kind = obj.get("kind")
    meta, spec, status = (_mapping(obj.get(key)) for key in ("metadata", "spec", "status"))
    generation = _number(meta.get("generation"))
    observed = _number(status.get("observedGeneration"))
    if observed < generation:
        return Progress(False, False, f"waiting for the controller (generation {generation}, "
                                      f"observed {observed})")
    if kind == "DaemonSet":
        desired = _number(status.get("desiredNumberScheduled"))
        updated = _number(status.get("updatedNumberScheduled"))
        available = _number(status.get("numberAvailable"))
        text = f"{updated} of {desired} updated, {available} available"
        return Progress(updated >= desired and available >= desired, False, text)
    wanted = _number(spec.get("replicas"), 1)
    updated = _number(status.get("updatedReplicas"))
    ready = _number(status.get("readyReplicas"))
    total = _number(status.get("replicas"))
    if kind == "StatefulSet":
        same_revision = status.get("updateRevision") in (None, status.get("currentRevision")) \
            or updated >= wanted
        text = f"{updated} of {wanted} updated, {ready} ready"
        return Progress(updated >= wanted and ready >= wanted and same_revision
                        and total <= wanted, False, text)
    available = _number(status.get("availableReplicas"))
    for condition in _items(status.get("conditions")):
        if isinstance(condition, dict) and condition.get("type") == "Progressing" \
                and condition.get("reason") == "ProgressDeadlineExceeded":
            return Progress(False, True, "progress deadline exceeded: "
                            + _short(str(condition.get("message") or "")))
    text = f"{updated} of {wanted} updated, {ready} ready, {available} available"
    if total > updated:
        text += f", {total - updated} old"
    return Progress(updated >= wanted and total <= updated and available >= updated
                    and ready >= updated, False, text)


def pod_not_ready_reason(pod: dict) -> str | None:
    """Why a pod is not ready (a container's waiting or terminated reason and message, else a
    condition's), or None when it is ready."""
    status = _mapping(pod.get("status"))
    conditions = [c for c in _items(status.get("conditions")) if isinstance(c, dict)]
    if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
        return None
    if status.get("phase") == "Succeeded":
        return None
    for container in [*_items(status.get("initContainerStatuses")),
                      *_items(status.get("containerStatuses"))]:
        if not isinstance(container, dict) or container.get("ready"):
            continue
        state = _mapping(container.get("state"))
        for word in ("waiting", "terminated"):
            detail = state.get(word)
            if isinstance(detail, dict) and (detail.get("reason") or detail.get("message")):
                text = f"container {container.get('name')} {word}: {detail.get('reason') or ''}"
                if detail.get("message"):
                    text += f" ({_short(str(detail['message']), 200)})"
                return text
    for condition in conditions:
        if condition.get("status") != "True" and (condition.get("reason")
                                                  or condition.get("message")):
            return (f"{condition.get('type')}: {condition.get('reason') or ''} "
                    f"{_short(str(condition.get('message') or ''), 200)}").strip()
    return f"phase {status.get('phase') or 'unknown'}"


# -- small pieces -------------------------------------------------------------------------------

def _identity(obj: dict) -> tuple[str, str, str]:
    meta = obj.get("metadata")
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not (isinstance(api_version, str) and isinstance(kind, str) and isinstance(name, str)
            and api_version and kind and name):
        raise ClusterError("an object needs apiVersion, kind and metadata.name")
    return api_version, kind, name


def _namespace_of(obj: dict, default: str) -> str:
    given = (obj.get("metadata") or {}).get("namespace")
    return given if isinstance(given, str) and given else default


def _with_namespace(obj: dict, namespace: str | None) -> dict:
    meta = dict(obj.get("metadata") or {})
    if namespace is None:
        meta.pop("namespace", None)
    else:
        meta["namespace"] = namespace
    return {**obj, "metadata": meta}


def _with_kind(item: dict, api_version: str, kind: str) -> dict:
    return {"apiVersion": api_version, "kind": kind, **item}


def _describe(kind: str, name: str, namespace: str | None) -> str:
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _described(obj: dict) -> str:
    meta = _mapping(obj.get("metadata"))
    return _describe(str(obj.get("kind")), str(meta.get("name")), meta.get("namespace"))


def _plain(answer: Any) -> dict:
    """A ResourceInstance (or dict) as plain JSON data."""
    if isinstance(answer, dict):
        return answer
    to_dict = getattr(answer, "to_dict", None)
    data = to_dict() if callable(to_dict) else None
    if not isinstance(data, dict):
        raise ClusterError("the cluster answered something that is not an object")
    return data


def _status_body(body: Any) -> dict:
    if isinstance(body, bytes):
        body = body[:65536].decode("utf-8", "replace")
    if not isinstance(body, str) or len(body) > 65536:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _namespace_missing(status: dict, namespace: str) -> bool:
    details = status.get("details") if isinstance(status.get("details"), dict) else {}
    if details.get("kind") == "namespaces" and details.get("name") == namespace:
        return True
    return f'namespaces "{namespace}" not found' in str(status.get("message") or "")


def _conflicts(status: dict) -> list[str]:
    """`FIELD (managed by MANAGER)` for each conflict cause of a 409 Status."""
    details = status.get("details") if isinstance(status.get("details"), dict) else {}
    found = []
    for cause in details.get("causes") or []:
        if not isinstance(cause, dict):
            continue
        field_path = _short(str(cause.get("field") or ""), 200)
        message = str(cause.get("message") or "")
        manager = ""
        if 'conflict with "' in message:
            manager = message.split('conflict with "', 1)[1].split('"', 1)[0]
        if field_path or manager:
            found.append(f"{field_path or '?'} is managed by {manager!r}" if manager else
                         f"{field_path}: {_short(message, 200)}")
    if not found and status.get("message"):
        found.append(_short(str(status["message"])))
    return found


def _selector_text(labels: Any) -> str:
    if not isinstance(labels, dict):
        return ""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())
                    if isinstance(k, str) and isinstance(v, str))


def _mapping(value: Any) -> dict:
    """`value` when the API gave a mapping there, else an empty one."""
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list:
    return value if isinstance(value, list) else []


def _number(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _short(text: str, limit: int = MAX_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _connection_text(exc: BaseException) -> str:
    """A connection failure in a line, without the request (and so without headers)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    text = type(exc).__name__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
            continue
        text = f"{type(current).__name__}: {current}"
        current = current.__cause__ or current.__context__
        if current is None:
            break
    return _short(text, 300)


def kinds_of(objects: Iterable[dict]) -> list[tuple[str, str]]:
    """The (apiVersion, kind) pairs among `objects`, in first-seen order."""
    seen: dict[tuple[str, str], None] = {}
    for obj in objects:
        seen.setdefault((str(obj.get("apiVersion")), str(obj.get("kind"))), None)
    return list(seen)


__all__ = ["Cluster", "ClusterError", "ClusterSettings", "connect", "kinds_of",
           "pod_not_ready_reason", "rollout_progress"]

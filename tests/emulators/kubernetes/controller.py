"""The controller loop: what kube-controller-manager and the kubelet would do, in one thread.

- Deployment → one ReplicaSet per pod template (named DEPLOYMENT-HASH, label pod-template-hash);
  the newest gets the desired replicas, older ones keep serving until the new pods are ready
  (maxUnavailable 0), then scale to 0. Status: observedGeneration, replicas, updatedReplicas,
  readyReplicas, availableReplicas, unavailableReplicas, conditions Available and Progressing
  (NewReplicaSetAvailable when complete, ProgressDeadlineExceeded after progressDeadlineSeconds).
- ReplicaSet → Pods (RS-xxxxx), owned by it.
- StatefulSet → Pods NAME-0..N-1, created in order once the previous is ready; pods of an old
  revision are replaced from the highest ordinal. DaemonSet → one pod on the one node.
- Pods ("the kubelet"): Running and Ready `ready_delay` seconds after they were created, unless a
  container's image ends with `:broken`: that pod stays Pending, the container waiting with
  ImagePullBackOff and a message.

Every write goes through the store, so each changes resourceVersion like a real cluster's.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import uuid
from typing import Any

from .discovery import find_by_kind
from .merging import now
from .store import ObjectStore

DEPLOYMENTS, REPLICA_SETS = find_by_kind("Deployment"), find_by_kind("ReplicaSet")
STATEFUL_SETS, DAEMON_SETS = find_by_kind("StatefulSet"), find_by_kind("DaemonSet")
PODS = find_by_kind("Pod")
NODE = "emulator-node"
BROKEN_SUFFIX = ":broken"


def template_hash(template: Any) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _owned(children: list[dict], owner: dict) -> list[dict]:
    uid = owner["metadata"]["uid"]
    return [child for child in children
            if any(reference.get("uid") == uid
                   for reference in child["metadata"].get("ownerReferences") or [])]


def pod_ready(pod: dict[str, Any]) -> bool:
    return any(condition.get("type") == "Ready" and condition.get("status") == "True"
               for condition in (pod.get("status") or {}).get("conditions") or [])


def _condition(kind: str, status: bool, reason: str, message: str,
               previous: list[dict]) -> dict[str, Any]:
    value = "True" if status else "False"
    old = next((c for c in previous if c.get("type") == kind), None)
    changed = old is None or old.get("status") != value
    stamp = now()
    return {"type": kind, "status": value, "reason": reason, "message": message,
            "lastUpdateTime": stamp if changed or old.get("reason") != reason
            else old.get("lastUpdateTime", stamp),
            "lastTransitionTime": stamp if changed else old.get("lastTransitionTime", stamp)}


class Controller:
    def __init__(self, store: ObjectStore, ready_delay: float, interval: float = 0.05) -> None:
        self.store, self.ready_delay, self.interval = store, ready_delay, interval
        self._born: dict[str, float] = {}       # pod uid -> when it was created (monotonic)
        self._started: dict[str, float] = {}    # deployment uid+generation -> when it changed
        self.errors: list[str] = []             # objects reconcile could not handle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kube-controller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        """Reconciles after every change, while a pod waits for its delay, and once a second
        (progress deadlines); an idle cluster costs next to nothing."""
        seen, last = "", 0.0
        while not self._stop.wait(self.interval):
            with self.store.lock:
                if self.store.revision == seen and not self._pods_waiting() and \
                        time.monotonic() - last < 1.0:
                    continue
                seen, last = self.store.revision, time.monotonic()
                self.reconcile()        # its own writes make the next tick reconcile again

    def _pods_waiting(self) -> bool:
        return any(not pod_ready(pod) and not any(
                       str(c.get("image", "")).endswith(BROKEN_SUFFIX)
                       for c in (pod.get("spec") or {}).get("containers") or [])
                   for pod in self.store.list(PODS))

    def reconcile(self) -> None:
        """One pass over every workload and pod. An object the controller cannot handle is
        skipped and named in `errors` (the others still roll out), as a real controller logs
        and moves on."""
        steps = [(DEPLOYMENTS, self._deployment), (REPLICA_SETS, self._replica_set),
                 (STATEFUL_SETS, self._stateful_set), (DAEMON_SETS, self._daemon_set),
                 (PODS, self._kubelet)]
        for resource_type, reconcile_one in steps:
            for obj in self.store.list(resource_type):
                try:
                    reconcile_one(obj)
                except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
                    message = (f'{resource_type.kind} {obj["metadata"].get("namespace", "")}/'
                               f'{obj["metadata"]["name"]}: {type(error).__name__}: {error}')
                    if message not in self.errors:
                        self.errors.append(message)

    # Deployments

    def _deployment(self, deployment: dict[str, Any]) -> None:
        spec, metadata = deployment["spec"], deployment["metadata"]
        namespace, desired = metadata["namespace"], spec.get("replicas", 1)
        template = spec["template"]
        pod_hash = template_hash(template)
        replica_sets = _owned(self.store.list(REPLICA_SETS, namespace), deployment)
        new = next((rs for rs in replica_sets
                    if rs["metadata"].get("labels", {}).get("pod-template-hash") == pod_hash),
                   None)
        if new is None:
            new = self._new_replica_set(deployment, pod_hash)
        pods = self.store.list(PODS, namespace)
        new_ready = sum(1 for pod in _owned(pods, new) if pod_ready(pod))
        if new["spec"]["replicas"] != desired:
            new["spec"]["replicas"] = desired
            new = self.store.put(REPLICA_SETS, new)
        old_sets = [rs for rs in replica_sets if rs["metadata"]["uid"] != new["metadata"]["uid"]]
        keep = max(0, desired - new_ready)
        for old in sorted(old_sets, key=lambda rs: rs["metadata"]["creationTimestamp"],
                          reverse=True):
            wanted = min(old["spec"]["replicas"], keep)
            keep -= wanted
            if old["spec"]["replicas"] != wanted:
                old["spec"]["replicas"] = wanted
                self.store.put(REPLICA_SETS, old)
        all_pods = [pod for rs in old_sets + [new] for pod in _owned(pods, rs)]
        updated = _owned(pods, new)
        ready = sum(1 for pod in all_pods if pod_ready(pod))
        complete = new_ready >= desired and len(all_pods) == desired
        clock_key = f'{metadata["uid"]}/{metadata.get("generation")}'
        started = self._started.setdefault(clock_key, time.monotonic())
        deadline = spec.get("progressDeadlineSeconds", 600)
        previous = (deployment.get("status") or {}).get("conditions") or []
        if complete:
            progressing = _condition("Progressing", True, "NewReplicaSetAvailable",
                                     f'ReplicaSet "{new["metadata"]["name"]}" has successfully '
                                     "progressed.", previous)
        elif time.monotonic() - started > deadline:
            progressing = _condition("Progressing", False, "ProgressDeadlineExceeded",
                                     f'ReplicaSet "{new["metadata"]["name"]}" has timed out '
                                     "progressing.", previous)
        else:
            progressing = _condition("Progressing", True, "ReplicaSetUpdated",
                                     f'ReplicaSet "{new["metadata"]["name"]}" is progressing.',
                                     previous)
        available = _condition("Available", ready >= desired,
                               "MinimumReplicasAvailable" if ready >= desired
                               else "MinimumReplicasUnavailable",
                               "Deployment has minimum availability." if ready >= desired
                               else "Deployment does not have minimum availability.", previous)
        status = {"observedGeneration": metadata.get("generation", 1),
                  "replicas": len(all_pods), "updatedReplicas": len(updated),
                  "readyReplicas": ready, "availableReplicas": ready,
                  "unavailableReplicas": max(0, desired - ready),
                  "conditions": [available, progressing]}
        self._set_status(DEPLOYMENTS, deployment, status)

    def _new_replica_set(self, deployment: dict[str, Any], pod_hash: str) -> dict[str, Any]:
        metadata, spec = deployment["metadata"], deployment["spec"]
        template = json.loads(json.dumps(spec["template"]))
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = \
            pod_hash
        selector = json.loads(json.dumps(spec["selector"]))
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
        return self.store.put(REPLICA_SETS, {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f'{metadata["name"]}-{pod_hash}',
                         "namespace": metadata["namespace"], "uid": str(uuid.uuid4()),
                         "creationTimestamp": now(), "generation": 1,
                         "labels": dict(template["metadata"]["labels"]),
                         "ownerReferences": [owner_reference(deployment)]},
            "spec": {"replicas": 0, "selector": selector, "template": template}})

    def _replica_set(self, replica_set: dict[str, Any]) -> None:
        namespace = replica_set["metadata"]["namespace"]
        pods = _owned(self.store.list(PODS, namespace), replica_set)
        desired = replica_set["spec"].get("replicas", 1)
        for _ in range(desired - len(pods)):
            pods.append(self._new_pod(replica_set, f'{replica_set["metadata"]["name"]}-'
                                      f"{secrets.token_hex(3)[:5]}"))
        if len(pods) > desired:
            doomed = sorted(pods, key=pod_ready)[:len(pods) - desired]
            for pod in doomed:
                self.store.remove(PODS, namespace, pod["metadata"]["name"])
            pods = [pod for pod in pods if pod not in doomed]
        ready = sum(1 for pod in pods if pod_ready(pod))
        self._set_status(REPLICA_SETS, replica_set, {
            "observedGeneration": replica_set["metadata"].get("generation", 1),
            "replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
            "availableReplicas": ready})

    # StatefulSets and DaemonSets

    def _stateful_set(self, stateful_set: dict[str, Any]) -> None:
        metadata, spec = stateful_set["metadata"], stateful_set["spec"]
        namespace, desired = metadata["namespace"], spec.get("replicas", 1)
        revision = f'{metadata["name"]}-{template_hash(spec["template"])}'
        pods = {pod["metadata"]["name"]: pod
                for pod in _owned(self.store.list(PODS, namespace), stateful_set)}
        for ordinal in range(desired):
            name = f'{metadata["name"]}-{ordinal}'
            if name not in pods:
                pods[name] = self._new_pod(stateful_set, name, {
                    "controller-revision-hash": revision,
                    "statefulset.kubernetes.io/pod-name": name})
                break
            if not pod_ready(pods[name]):
                break
        for name, pod in list(pods.items()):
            if int(name.rsplit("-", 1)[1]) >= desired:
                self.store.remove(PODS, namespace, name)
                del pods[name]
        outdated = sorted((name for name, pod in pods.items()
                           if pod["metadata"]["labels"].get("controller-revision-hash")
                           != revision), key=lambda name: int(name.rsplit("-", 1)[1]))
        if outdated and all(pod_ready(pod) for pod in pods.values()):
            self.store.remove(PODS, namespace, outdated[-1])
            del pods[outdated[-1]]
        ready = sum(1 for pod in pods.values() if pod_ready(pod))
        updated = len(pods) - len(outdated)
        self._set_status(STATEFUL_SETS, stateful_set, {
            "observedGeneration": metadata.get("generation", 1), "replicas": len(pods),
            "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": updated,
            "currentReplicas": updated if not outdated else len(outdated),
            "currentRevision": revision if not outdated else (
                stateful_set.get("status") or {}).get("currentRevision", revision),
            "updateRevision": revision, "collisionCount": 0})

    def _daemon_set(self, daemon_set: dict[str, Any]) -> None:
        metadata, spec = daemon_set["metadata"], daemon_set["spec"]
        namespace = metadata["namespace"]
        revision = template_hash(spec["template"])
        pods = _owned(self.store.list(PODS, namespace), daemon_set)
        current = [pod for pod in pods
                   if pod["metadata"]["labels"].get("controller-revision-hash") == revision]
        for pod in pods:
            if pod not in current:
                self.store.remove(PODS, namespace, pod["metadata"]["name"])
        if not current:
            current.append(self._new_pod(daemon_set, f'{metadata["name"]}-'
                                         f"{secrets.token_hex(3)[:5]}",
                                         {"controller-revision-hash": revision}))
        ready = sum(1 for pod in current if pod_ready(pod))
        self._set_status(DAEMON_SETS, daemon_set, {
            "observedGeneration": metadata.get("generation", 1),
            "desiredNumberScheduled": 1, "currentNumberScheduled": len(current),
            "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
            "numberUnavailable": 1 - ready, "updatedNumberScheduled": len(current)})

    # Pods

    def _new_pod(self, owner: dict[str, Any], name: str,
                 labels: dict[str, str] | None = None) -> dict[str, Any]:
        template = json.loads(json.dumps(owner["spec"]["template"]))
        pod_labels = dict((template.get("metadata") or {}).get("labels") or {})
        pod_labels.update(labels or {})
        spec = template.get("spec") or {}
        spec["nodeName"] = NODE
        pod = self.store.put(PODS, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": owner["metadata"]["namespace"],
                         "uid": str(uuid.uuid4()), "creationTimestamp": now(),
                         "labels": pod_labels,
                         "annotations": dict((template.get("metadata") or {}).get(
                             "annotations") or {}),
                         "ownerReferences": [owner_reference(owner)]},
            "spec": spec, "status": {"phase": "Pending", "qosClass": "BestEffort"}})
        self._born[pod["metadata"]["uid"]] = time.monotonic()
        return pod

    def _kubelet(self, pod: dict[str, Any]) -> None:
        born = self._born.setdefault(pod["metadata"]["uid"], time.monotonic())
        containers = (pod.get("spec") or {}).get("containers") or []
        broken = [c for c in containers if str(c.get("image", "")).endswith(BROKEN_SUFFIX)]
        started = not broken and time.monotonic() - born >= self.ready_delay
        statuses, previous = [], pod.get("status") or {}
        for container in containers:
            image = container.get("image", "")
            if started:
                state = {"running": {"startedAt": previous.get("startTime", now())}}
            elif container in broken:
                state = {"waiting": {"reason": "ImagePullBackOff",
                                     "message": f'Back-off pulling image "{image}"'}}
            else:
                state = {"waiting": {"reason": "ContainerCreating"}}
            statuses.append({"name": container.get("name"), "image": image, "imageID": "",
                             "ready": started, "started": started, "restartCount": 0,
                             "state": state})
        unready = [c.get("name") for c in containers if not started]
        conditions = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": "True" if started else "False"},
            {"type": "Ready", "status": "True" if started else "False"}]
        if not started:
            for condition in conditions[2:]:
                condition["reason"] = "ContainersNotReady"
                condition["message"] = f"containers with unready status: [{' '.join(unready)}]"
        stamp = previous.get("startTime", now())
        for condition in conditions:
            condition["lastTransitionTime"] = next(
                (old.get("lastTransitionTime") for old in previous.get("conditions") or []
                 if old.get("type") == condition["type"]
                 and old.get("status") == condition["status"]), now())
        digest = hashlib.sha256(pod["metadata"]["uid"].encode()).digest()
        status = {"phase": "Running" if started else "Pending", "conditions": conditions,
                  "hostIP": "10.0.0.10", "podIP": f"10.244.{digest[0]}.{max(digest[1], 2)}",
                  "startTime": stamp, "containerStatuses": statuses,
                  "qosClass": "BestEffort"}
        self._set_status(PODS, pod, status)

    def _set_status(self, resource_type, obj: dict[str, Any], status: dict[str, Any]) -> None:
        if obj.get("status") != status:
            obj["status"] = status
            self.store.put(resource_type, obj)

"""How far a rollout is, from a workload's status alone (a table), and why a pod is not ready;
statuses with missing or wrongly typed fields count as not rolled out instead of raising."""

from __future__ import annotations

import pytest

from flowplan_providers.kubernetes.cluster import pod_not_ready_reason, rollout_progress


def deployment(generation=2, observed=2, wanted=3, **status):
    return {"kind": "Deployment", "metadata": {"generation": generation},
            "spec": {"replicas": wanted},
            "status": {"observedGeneration": observed, **status}}


@pytest.mark.parametrize("obj, done, failed, text", [
    (deployment(observed=1), False, False, "waiting for the controller (generation 2, observed 1)"),
    (deployment(replicas=3, updatedReplicas=3, readyReplicas=3, availableReplicas=3),
     True, False, "3 of 3 updated, 3 ready, 3 available"),
    (deployment(replicas=4, updatedReplicas=2, readyReplicas=3, availableReplicas=3),
     False, False, "2 of 3 updated, 3 ready, 3 available, 2 old"),
    (deployment(updatedReplicas=3, readyReplicas=2, availableReplicas=2), False, False,
     "3 of 3 updated, 2 ready, 2 available"),
    (deployment(updatedReplicas="3", readyReplicas=None, availableReplicas=[]), False, False,
     "0 of 3 updated, 0 ready, 0 available"),
    (deployment(conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded",
                             "message": "ReplicaSet web-1 has timed out progressing."}]),
     False, True, "progress deadline exceeded: ReplicaSet web-1 has timed out progressing."),
    ({"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 2},
      "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                 "readyReplicas": 2, "currentRevision": "a", "updateRevision": "a"}},
     True, False, "2 of 2 updated, 2 ready"),
    ({"kind": "DaemonSet", "metadata": {"generation": 1},
      "status": {"observedGeneration": 1, "desiredNumberScheduled": 1,
                 "updatedNumberScheduled": 1, "numberAvailable": 0}},
     False, False, "1 of 1 updated, 0 available"),
    ({"kind": "Deployment", "metadata": "junk", "spec": None, "status": "junk"}, False, False,
     "0 of 1 updated, 0 ready, 0 available"),
])
def test_rollout_progress(obj, done, failed, text):
    progress = rollout_progress(obj)
    assert (progress.done, progress.failed, progress.text) == (done, failed, text)


@pytest.mark.parametrize("status, reason", [
    ({"conditions": [{"type": "Ready", "status": "True"}]}, None),
    ({"phase": "Pending", "containerStatuses": [
        {"name": "app", "ready": False, "state": {"waiting": {
            "reason": "ImagePullBackOff", "message": "Back-off pulling image \"x:broken\""}}}]},
     'container app waiting: ImagePullBackOff (Back-off pulling image "x:broken")'),
    ({"containerStatuses": [{"name": "app", "ready": False, "state": {"terminated": {
        "reason": "Error", "exitCode": 1}}}]}, "container app terminated: Error"),
    ({"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                      "message": "0/1 nodes are available"}]},
     "PodScheduled: Unschedulable 0/1 nodes are available"),
    ({"phase": "Pending"}, "phase Pending"),
    ({"containerStatuses": ["junk", {"name": "x", "ready": False, "state": "junk"}]},
     "phase unknown"),
])
def test_why_a_pod_is_not_ready(status, reason):
    assert pod_not_ready_reason({"status": status}) == reason

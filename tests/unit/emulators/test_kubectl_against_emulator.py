"""The real kubectl (v1.32, /usr/bin/kubectl) works against the Kubernetes emulator: server-side
apply, conflicts worded as a real cluster words them and --force-conflicts, get with the
server's table, scale, rollout status (a watch) and delete. This is the check that the emulator
speaks the real protocol, not only what the Python client tolerates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.support.kube import cluster

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (scripts/test "
                                "installs Debian's kubernetes-client)")

MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: registry.local/web:1
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    with cluster(tmp_path_factory.mktemp("kubectl"), ready_after=0.1) as started:
        yield started


def kubectl(kube, *arguments, check=True):
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(kube.kubeconfig.parent),
                   "KUBECONFIG": str(kube.kubeconfig)}
    done = subprocess.run([KUBECTL, *arguments], capture_output=True, text=True, timeout=60,
                          env=environment)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def write_manifests(tmp_path, replicas):
    path = tmp_path / "web.yaml"
    path.write_text(MANIFESTS.replace("REPLICAS", str(replicas)))
    return str(path)


def test_kubectl_server_side_apply_get_scale_rollout_and_delete(kube, tmp_path):
    applied = kubectl(kube, "apply", "--server-side", "-f", write_manifests(tmp_path, 2))
    assert applied.stdout.splitlines() == ["deployment.apps/web serverside-applied",
                                           "service/web serverside-applied"]
    rollout = kubectl(kube, "rollout", "status", "deployment/web", "--timeout=20s")
    assert 'deployment "web" successfully rolled out' in rollout.stdout

    table = kubectl(kube, "get", "deployment", "web").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:4] == ["web", "2/2", "2", "2"]
    pods = kubectl(kube, "get", "pods", "-l", "app=web", "-o", "json").stdout
    assert [pod["status"]["phase"] for pod in json.loads(pods)["items"]] == ["Running"] * 2
    (live,) = kube.server.objects("Deployment", "default")
    assert [entry["manager"] for entry in live["metadata"]["managedFields"]] == ["kubectl"]
    assert live["metadata"]["managedFields"][0]["operation"] == "Apply"

    kubectl(kube, "scale", "deployment/web", "--replicas=3")
    conflict = kubectl(kube, "apply", "--server-side", "-f", write_manifests(tmp_path, 4),
                       check=False)
    assert conflict.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale"' \
        in conflict.stderr
    assert ".spec.replicas" in conflict.stderr and "--force-conflicts" in conflict.stderr
    kubectl(kube, "apply", "--server-side", "--force-conflicts", "-f",
            write_manifests(tmp_path, 4))
    assert kubectl(kube, "get", "deployment", "web", "-o",
                   "jsonpath={.spec.replicas}").stdout == "4"

    kubectl(kube, "delete", "-f", write_manifests(tmp_path, 4))
    assert kube.server.objects("Deployment", "default") == []
    assert kube.server.objects("Pod", "default") == []
    missing = kubectl(kube, "get", "deployment", "web", check=False)
    assert 'deployments.apps "web" not found' in missing.stderr


def test_kubectl_reports_a_missing_namespace_and_an_expired_token(kube, tmp_path):
    missing = kubectl(kube, "apply", "--server-side", "-n", "nowhere", "-f",
                      write_manifests(tmp_path, 1), check=False)
    assert 'namespaces "nowhere" not found' in missing.stderr
    kube.server.expire_token(kube.token)
    refused = kubectl(kube, "get", "pods", check=False)
    assert refused.returncode != 0
    assert "Unauthorized" in refused.stderr or "credentials" in refused.stderr
    assert kube.token not in refused.stderr

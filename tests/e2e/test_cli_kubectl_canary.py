"""A kubectl_apply canary through the `flowplan` command, against the Kubernetes emulator: `run`
stops at the manual pause (exit 4, with `flowplan resume` and `flowplan cancel` to type), `cancel`
continues the paused step so that it deletes the canary and keeps the stable Deployment, and
says so. (Resuming is tests/unit/providers/test_kubernetes_strategy_runs.py's.)"""

from __future__ import annotations

import re

import pytest
import yaml
from flowplan_providers.kubernetes.cluster import ClusterSettings, connect
from kube import cluster as emulated_cluster

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web, track: stable}
  template:
    metadata:
      labels: {app: web, track: stable}
    spec:
      containers:
        - name: web
          image: ${IMAGE}
"""

CONFIG = """\
provider "kubernetes" {
  kubeconfig = "KUBECONFIG"
  context    = "emulator"
}

pipeline "web" {
  variables = { image = "app:1" }
  stage "deploy" {
    task "cluster" {
      step "copy" {
        type = "command"
        run  = "cp MANIFESTS web.yaml"
      }
      step "apply" {
        type      = "kubectl_apply"
        manifests = "web.yaml"
        variables = { IMAGE = run.variables.image }
        timeout   = "20s"
        strategy  = "canary"
        canary {
          steps = [{ weight = 50, pause = "manual" }]
        }
      }
    }
  }
}
"""


@pytest.fixture
def emulator(tmp_path):
    with emulated_cluster(tmp_path / "kube", ready_after=0.1) as made:
        yield made


def images(server) -> dict[str, list[str]]:
    return {d["metadata"]["name"]: [c["image"] for c in d["spec"]["template"]["spec"][
        "containers"]] for d in server.objects("Deployment", "default")
        if not d["metadata"].get("deletionTimestamp")}


def test_flowplan_cancel_of_a_paused_canary_deletes_it_and_keeps_the_stable_version(
        workspace, run_flowplan, emulator):
    manifest = workspace.root / "web.yaml"
    manifest.write_text(MANIFEST)
    workspace.write(CONFIG.replace("KUBECONFIG", str(emulator.kubeconfig))
                    .replace("MANIFESTS", str(manifest)))
    assert run_flowplan("apply", "--auto-approve").code == 0
    stable = yaml.safe_load(MANIFEST.replace("${IMAGE}", "app:1"))
    with connect(ClusterSettings(kubeconfig=str(emulator.kubeconfig),
                                 context="emulator")) as cluster:
        cluster.wait_rollout(cluster.apply([stable], namespace="default"), timeout=20,
                             log=lambda _: None)

    paused = run_flowplan("run", "web", "--var", "image=app:2")
    assert paused.code == 4, str(paused)
    assert "flowplan resume web#1" in paused.stdout + paused.stderr
    assert "flowplan cancel web#1" in paused.stdout + paused.stderr
    assert images(emulator.server) == {"web": ["app:1"], "web-canary": ["app:2"]}

    canceled = run_flowplan("cancel", "web#1", "--as", "ann")
    assert canceled.code == 0, str(canceled)
    assert canceled.stdout.rstrip().endswith("web#1 is canceled."), str(canceled)
    assert images(emulator.server) == {"web": ["app:1"]}
    shown = canceled.stdout + canceled.stderr        # the continued step, as it ended
    assert re.search(r"canceled by ann while paused; canary web-canary deleted, web left at "
                     r"the stable version", shown), str(canceled)

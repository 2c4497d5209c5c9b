"""A kubectl_apply canary through the `flowplan` command, against the Kubernetes emulator: `run`
stops at the manual pause (exit 4, with `flowplan resume` and `flowplan cancel` to type), `cancel`
continues the paused step so that it deletes the canary and keeps the stable Deployment, and
`runs show` says so. (Resuming is tests/unit/providers/test_kubernetes_strategy_runs.py's.)"""

from __future__ import annotations

import re

import pytest
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
    first = run_flowplan("run", "web")               # no stable version yet: applied directly
    assert first.code == 0, str(first)
    assert images(emulator.server) == {"web": ["app:1"]}

    paused = run_flowplan("run", "web", "--var", "image=app:2")
    assert paused.code == 4, str(paused)
    assert "flowplan resume web#2" in paused.stdout + paused.stderr
    assert "flowplan cancel web#2" in paused.stdout + paused.stderr
    assert images(emulator.server) == {"web": ["app:1"], "web-canary": ["app:2"]}

    canceled = run_flowplan("cancel", "web#2", "--as", "ann")
    assert canceled.code == 0, str(canceled)
    assert "web#2 is canceled." in canceled.stdout
    assert images(emulator.server) == {"web": ["app:1"]}
    shown = run_flowplan("runs", "show", "web#2")
    assert re.search(r"canceled by ann while paused; canary web-canary deleted, web left at "
                     r"the stable version", shown.stdout), str(shown)

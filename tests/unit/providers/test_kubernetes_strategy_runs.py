"""kubectl_apply's strategies in runs, as `flowplan run`, `resume`, `cancel` and `rollback` drive
them: a canary paused at a manual step is a pause gate that `resume` continues and `cancel`
undoes (the canary deleted, the stable Deployment as it was); `rollback --to RUN` switches a
blue/green Service back to RUN's colour while it still runs, and applies RUN's kept manifests
again once it is gone. A config applied in-process (a `provider "kubernetes"` block naming the
emulator's kubeconfig), a pipeline whose first step copies the manifests of the config directory
into the workspace; one emulator per module, a namespace per test."""

from __future__ import annotations

import dataclasses
import itertools
import textwrap

import pytest

from flowplan import engine
from flowplan.executor.status import Status
from flowplan_providers.kubernetes.cluster import ClusterSettings, connect
from flowplan_providers.kubernetes.strategies import COLOUR_LABEL
from inline import apply_all, close_providers, inline_config
from kube import cluster as emulated_cluster

NAMESPACES = itertools.count(1)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with emulated_cluster(tmp_path_factory.mktemp("kube"), ready_after=0.1) as made:
        yield made


@pytest.fixture
def kube(emulator):
    connected = connect(ClusterSettings(kubeconfig=str(emulator.kubeconfig),
                                        context="emulator"))
    namespace = f"runs-{next(NAMESPACES)}"
    connected.apply([{"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"name": namespace}}], namespace="default")
    yield connected, namespace
    connected.close()
    close_providers()


MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: ${IMAGE}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - port: 80
"""


def pipeline(directory, emulator, namespace, strategy_block: str) -> str:
    return textwrap.dedent(f"""\
        provider "kubernetes" {{
          kubeconfig = "{emulator.kubeconfig}"
          context    = "emulator"
        }}

        pipeline "app" {{
          stage "deploy" {{
            task "cluster" {{
              step "manifests" {{
                type = "command"
                run  = "cp -r {directory}/k8s . && echo image=$(cat {directory}/image) >> $FLOWPLAN_OUTPUT"
              }}
              step "apply" {{
                type      = "kubectl_apply"
                namespace = "{namespace}"
                manifests = "k8s"
                variables = {{ IMAGE = steps.cluster.manifests.image }}
                timeout   = "20s"
        {textwrap.indent(strategy_block, "        ")}
              }}
            }}
          }}
        }}
        """)


def applied(tmp_path, emulator, namespace, strategy_block: str):
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text(MANIFESTS)
    (tmp_path / "image").write_text("app:1")
    workspace = inline_config(tmp_path, pipeline(tmp_path, emulator, namespace,
                                                 strategy_block))
    apply_all(workspace)
    service = engine.open_run_service(tmp_path, workspace.config)
    service.settings = dataclasses.replace(service.settings, kill_grace=0.5,
                                           poll_interval=0.05, log_flush_interval=0.05)
    return service


def start(service, tmp_path, image: str):
    (tmp_path / "image").write_text(image)
    definition = service.store.get_pipeline("app").definition
    return service.start("app", definition, user="ci")


def images(cluster, namespace) -> dict[str, list[str]]:
    return {d["metadata"]["name"]: [c["image"] for c in d["spec"]["template"]["spec"][
        "containers"]] for d in cluster.list("apps/v1", "Deployment", namespace)}


def apply_step(service, ref: str):
    run = service.get(ref)
    return next(s for s in service.store.step_runs(run.id, latest=True) if s.step == "apply")


def log_of(service, ref: str) -> list[str]:
    return [line.text for line in service.logs(ref, task="cluster", step="apply")]


CANARY = """\
strategy = "canary"
canary {
  steps = [{ weight = 50, pause = "manual" }]
}"""


def test_a_paused_canary_waits_as_a_pause_gate_and_resume_promotes_it(tmp_path, emulator,
                                                                      kube):
    cluster, namespace = kube
    service = applied(tmp_path, emulator, namespace, CANARY)
    assert start(service, tmp_path, "app:1").status == Status.SUCCEEDED   # the stable one
    outcome = start(service, tmp_path, "app:2")
    assert outcome.status == Status.WAITING, outcome
    gate, = outcome.gates
    assert gate.kind == "pause"
    assert gate.description == "canary at step 1 of 1: web-canary 2 of 4 pods (50%)"
    assert outcome.commands == (f"flowplan resume {outcome.run}",
                                f"flowplan cancel {outcome.run}")
    assert images(cluster, namespace) == {"web": ["app:1"], "web-canary": ["app:2"]}

    resumed = service.resume(outcome.run, user="ci")
    assert resumed.status == Status.SUCCEEDED, resumed
    assert images(cluster, namespace) == {"web": ["app:2"]}
    log = log_of(service, outcome.run)
    assert "resumed after canary step 1 of 1" in log
    assert log[-1] == "web promoted after 1 canary step"


def test_cancel_of_a_paused_canary_deletes_it_and_leaves_the_stable_version(tmp_path, emulator,
                                                                          kube):
    cluster, namespace = kube
    service = applied(tmp_path, emulator, namespace, CANARY)
    start(service, tmp_path, "app:1")
    outcome = start(service, tmp_path, "app:2")
    assert outcome.status == Status.WAITING

    record = service.cancel(outcome.run, user="ann")
    assert record.status == Status.CANCELED
    assert images(cluster, namespace) == {"web": ["app:1"]}
    step = apply_step(service, outcome.run)
    assert step.status == Status.CANCELED
    assert step.error == ("canceled by ann while paused; canary web-canary deleted, web left at "
                          "the stable version")
    assert "canary web-canary deleted" in record.error


BLUE_GREEN = """\
strategy = "blue_green"
blue_green {
  service  = "web"
  keep_old = KEEP
}"""


def test_a_rollback_switches_the_service_back_to_the_colour_that_still_runs(tmp_path, emulator,
                                                                            kube):
    cluster, namespace = kube
    service = applied(tmp_path, emulator, namespace, BLUE_GREEN.replace("KEEP", "true"))
    first, second = start(service, tmp_path, "app:1"), start(service, tmp_path, "app:2")
    assert (first.status, second.status) == (Status.SUCCEEDED, Status.SUCCEEDED)
    assert apply_step(service, first.run).outputs["colour"] == "blue"
    assert apply_step(service, second.run).outputs["colour"] == "green"

    rolled = service.rollback("app", first.run, user="ci")
    assert rolled.status == Status.SUCCEEDED, rolled
    assert service.get(rolled.run).trigger == "rollback"
    step = apply_step(service, rolled.run)
    assert (step.outputs["colour"], step.outputs["previous_colour"]) == ("blue", "green")
    selector = cluster.get("v1", "Service", "web", namespace)["spec"]["selector"]
    assert selector[COLOUR_LABEL] == "blue"
    assert images(cluster, namespace) == {"web-blue": ["app:1"], "web-green": ["app:2"]}
    log = log_of(service, rolled.run)
    assert any(line.startswith("2 objects from cluster.apply.manifests.yaml of the run rolled "
                               "back to") for line in log), log
    assert ("rollback: blue (web-blue) still runs the run's images; switching Service web "
            "back to it") in log


def test_a_rollback_to_a_colour_that_is_gone_applies_the_run_s_kept_manifests_again(
        tmp_path, emulator, kube):
    cluster, namespace = kube
    service = applied(tmp_path, emulator, namespace, BLUE_GREEN.replace("KEEP", "false"))
    first = start(service, tmp_path, "app:1")
    start(service, tmp_path, "app:2")
    assert images(cluster, namespace) == {"web-green": ["app:2"]}

    (tmp_path / "k8s" / "app.yaml").unlink()        # the rollback needs no manifests now
    rolled = service.rollback("app", first.run, user="ci")
    assert rolled.status == Status.SUCCEEDED, rolled
    assert images(cluster, namespace) == {"web-blue": ["app:1"]}
    selector = cluster.get("v1", "Service", "web", namespace)["spec"]["selector"]
    assert selector[COLOUR_LABEL] == "blue"
    assert ("rollback: blue cannot be switched back to (web-blue is gone): deploying the run's "
            "manifests again") in log_of(service, rolled.run)


def test_cancel_while_the_canary_waits_out_a_timed_pause_deletes_it(tmp_path, emulator, kube):
    import threading
    import time

    cluster, namespace = kube
    service = applied(tmp_path, emulator, namespace, CANARY.replace('"manual"', '"5m"'))
    start(service, tmp_path, "app:1")
    outcomes = []
    driving = threading.Thread(target=lambda: outcomes.append(start(service, tmp_path,
                                                                    "app:2")))
    driving.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "web-canary" not in images(cluster, namespace):
        time.sleep(0.05)
    while time.monotonic() < deadline and not any(
            "waiting 5m" in line for line in log_of(service, "app#2")):
        time.sleep(0.05)
    service.cancel("app#2", user="ann")
    driving.join(20)
    assert outcomes and outcomes[0].status == Status.CANCELED, outcomes
    assert images(cluster, namespace) == {"web": ["app:1"]}
    step = apply_step(service, "app#2")
    assert step.status == Status.CANCELED
    assert step.error.startswith("canceled at canary step 1; canary web-canary deleted")


def test_a_cancel_without_the_run_s_sensitive_values_leaves_the_canary_and_says_so(
        tmp_path, emulator, kube):
    cluster, namespace = kube
    service = applied(tmp_path, emulator, namespace, CANARY)
    start(service, tmp_path, "app:1")
    (tmp_path / "image").write_text("app:2")
    definition = service.store.get_pipeline("app").definition
    outcome = service.start("app", definition, user="ci", variables={"token": "s3cr3t"},
                            sensitive={"token"})
    assert outcome.status == Status.WAITING

    record = service.cancel(outcome.run, user="ann")          # the token is not given again
    assert record.status == Status.CANCELED
    assert record.error.startswith("canceled by ann; deploy/cluster/apply left as paused, not "
                                   "undone (")
    assert "s3cr3t" not in record.error
    assert images(cluster, namespace) == {"web": ["app:1"], "web-canary": ["app:2"]}


def test_prune_with_blue_green_deletes_what_left_the_manifests_and_keeps_the_kept_colour(
        tmp_path, emulator, kube):
    cluster, namespace = kube
    block = "prune = true\n" + BLUE_GREEN.replace("KEEP", "true")
    service = applied(tmp_path, emulator, namespace, block)
    extra = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old-settings\ndata:\n  a: b\n"
    (tmp_path / "k8s" / "app.yaml").write_text(MANIFESTS + extra)
    assert start(service, tmp_path, "app:1").status == Status.SUCCEEDED
    (tmp_path / "k8s" / "app.yaml").write_text(MANIFESTS)
    second = start(service, tmp_path, "app:2")
    assert second.status == Status.SUCCEEDED, second
    assert cluster.get("v1", "ConfigMap", "old-settings", namespace) is None
    assert images(cluster, namespace) == {"web-blue": ["app:1"], "web-green": ["app:2"]}
    step = apply_step(service, second.run)
    assert step.outputs["pruned"] == f"ConfigMap/{namespace}/old-settings"
    assert step.outputs["colour"] == "green"

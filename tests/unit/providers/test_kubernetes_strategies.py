"""The blue/green and canary strategies against the Kubernetes emulator (tests/support/kube.py),
through the real client (flowplan_providers.kubernetes.cluster): colours switched and kept or
deleted, a new colour that never gets ready, rollbacks to a colour that still runs and to one
that is gone; canary steps with timed pauses, an analysis that passes or fails, a manual pause
continued or canceled, a cancel during a pause, a canary that never gets ready. The strategies
are called as the kubectl_apply step calls them; each test deploys into a namespace of its own
on one emulator per module."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from flowplan.executor.run.layout import RunLayout
from flowplan.executor.settings import ExecutorSettings
from flowplan.executor.status import Status
from flowplan.executor.step_type import PreviousSuccess, RunInfo, StepContext
from flowplan_providers.kubernetes.cluster import ClusterSettings, connect
from flowplan_providers.kubernetes.strategies import COLOUR_LABEL, BlueGreen, Canary, run
from kube import cluster as emulated_cluster

NAMESPACES = itertools.count(1)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with emulated_cluster(tmp_path_factory.mktemp("kube"), ready_after=0.1) as made:
        yield made


@pytest.fixture
def kube(emulator):
    """A connected Cluster and a fresh namespace on the module's emulator."""
    connected = connect(ClusterSettings(kubeconfig=str(emulator.kubeconfig),
                                        context="emulator"))
    namespace = f"strategy-{next(NAMESPACES)}"
    connected.apply([{"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"name": namespace}}], namespace="default")
    yield SimpleNamespace(cluster=connected, namespace=namespace, server=emulator.server)
    connected.close()


class Log:
    def __init__(self):
        self.said: list[str] = []

    def say(self, text: str, at: float = 0.0, stream: str = "system") -> None:
        self.said.append(text)

    def feed(self, stream: str, data: bytes, at: float) -> None:
        self.said.extend(data.decode("utf-8", "replace").splitlines())

    def end(self, at: float) -> None:
        pass

    def text(self) -> str:
        return "\n".join(self.said)


class Ledger:
    """The two questions a canary asks of its DeployLedger."""

    def __init__(self, resumes: int = 0, canceled_by: str | None = None):
        self._resumes, self._canceled_by = resumes, canceled_by

    def resumes(self) -> int:
        return self._resumes

    def canceled_by(self) -> str | None:
        return self._canceled_by


def context(tmp_path, *, trigger="manual", rollback_of=None, ledger=None) -> StepContext:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    private = tmp_path / "private"
    private.mkdir(exist_ok=True)
    settings = ExecutorSettings.from_config(tmp_path, {})
    return StepContext(
        run=RunInfo(1, "app", 3, trigger, None, None, None, None), stage="deploy",
        task="cluster", step="apply", attempt=1, step_run_id=1, config=None, attributes={},
        workspace=workspace, environment={"PATH": "/usr/bin:/bin"},
        output_file=private / "apply.output", private_dir=private, deadline=None,
        timeout_text=None, cancel=threading.Event(), kill_grace=0.5, log=Log(),
        layout=RunLayout(settings, "app", 3), first_started_at=datetime.now(timezone.utc),
        deploys=ledger or Ledger(), rollback_of=lambda: rollback_of)


def config(kube, *, timeout="20s", **blocks):
    return SimpleNamespace(namespace=kube.namespace, timeout=timeout, force_conflicts=False,
                           blue_green=BlueGreen(**blocks["blue_green"])
                           if "blue_green" in blocks else None,
                           canary=Canary(**blocks["canary"]) if "canary" in blocks else None)


def deployment(image: str, replicas: int = 2, name: str = "web") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image}]}}}}


def service(name: str = "web") -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}


def manifests(image: str, replicas: int = 2) -> list[dict]:
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-settings"},
             "data": {"greeting": "hello"}}, deployment(image, replicas), service()]


def deploy(kube, tmp_path, strategy, objects, settings, **options):
    step = context(tmp_path, **options)
    outcome = run(strategy, step, kube.cluster, objects, settings, step.log.say)
    return outcome, step.log


def deployments(kube) -> dict[str, list[str]]:
    """Name -> images of the namespace's Deployments."""
    return {d["metadata"]["name"]: [c["image"] for c in
                                    d["spec"]["template"]["spec"]["containers"]]
            for d in kube.cluster.list("apps/v1", "Deployment", kube.namespace)}


def selector(kube, name: str = "web") -> dict:
    return kube.cluster.get("v1", "Service", name, kube.namespace)["spec"]["selector"]


# -- blue/green --------------------------------------------------------------------------------

def test_blue_green_deploys_blue_then_green_beside_it_switches_the_service_and_deletes_blue(
        kube, tmp_path):
    settings = config(kube, blue_green={"service": "web"})
    first, log = deploy(kube, tmp_path, "blue_green", manifests("app:1"), settings)
    assert first.status == Status.SUCCEEDED, first.error
    assert first.outputs == {"colour": "blue", "previous_colour": "", "service": "web"}
    assert selector(kube) == {"app": "web", COLOUR_LABEL: "blue"}
    assert deployments(kube) == {"web-blue": ["app:1"]}
    assert "blue/green: no colour serves Service web; deploying blue (web-blue)" in log.said
    assert kube.cluster.get("v1", "ConfigMap", "web-settings", kube.namespace) is not None

    second, log = deploy(kube, tmp_path, "blue_green", manifests("app:2"), settings)
    assert second.status == Status.SUCCEEDED, second.error
    assert second.outputs["colour"] == "green" and second.outputs["previous_colour"] == "blue"
    assert selector(kube) == {"app": "web", COLOUR_LABEL: "green"}
    assert deployments(kube) == {"web-green": ["app:2"]}
    assert log.said[-2:] == ["switched Service web to green", "deleted web-blue"]
    pods = kube.server.objects("Pod", kube.namespace)
    assert {p["metadata"]["labels"][COLOUR_LABEL] for p in pods
            if not p["metadata"].get("deletionTimestamp")} >= {"green"}
    assert second.summary["title"] == "green serves Service web (was blue)"


def test_keep_old_leaves_the_old_colour_running_and_reports_it_kept(kube, tmp_path):
    settings = config(kube, blue_green={"service": "web", "keep_old": True})
    deploy(kube, tmp_path, "blue_green", manifests("app:1"), settings)
    outcome, log = deploy(kube, tmp_path, "blue_green", manifests("app:2"), settings)
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert deployments(kube) == {"web-blue": ["app:1"], "web-green": ["app:2"]}
    assert [k["metadata"]["name"] for k in outcome.kept] == ["web-blue"]
    assert "kept web-blue (keep_old)" in log.said


def test_a_new_colour_that_never_gets_ready_fails_naming_its_pods_and_blue_keeps_serving(
        kube, tmp_path):
    settings = config(kube, blue_green={"service": "web"})
    deploy(kube, tmp_path, "blue_green", manifests("app:1"), settings)
    broken = config(kube, timeout="1s", blue_green={"service": "web"})
    started = time.monotonic()
    outcome, _ = deploy(kube, tmp_path, "blue_green", manifests("app:broken"), broken)
    assert time.monotonic() - started < 10
    assert outcome.status == Status.FAILED
    assert outcome.error.startswith("green (web-green) did not get ready: rollout not finished "
                                    "after 1")
    assert "web-green-" in outcome.error                    # the pods not ready, by name
    assert "BackOff" in outcome.error                        # and why
    assert outcome.error.endswith("Service web was not switched (blue still serves); "
                                  "web-green left for inspection")
    assert selector(kube)[COLOUR_LABEL] == "blue"
    assert deployments(kube)["web-blue"] == ["app:1"]


def test_a_service_that_is_nowhere_or_selects_an_unknown_colour_is_refused_before_deploying(
        kube, tmp_path):
    settings = config(kube, blue_green={"service": "front"})
    outcome, _ = deploy(kube, tmp_path, "blue_green", [deployment("app:1")], settings)
    assert outcome.status == Status.FAILED
    assert outcome.error == (f"blue_green: Service front is neither in the manifests nor in "
                             f"namespace {kube.namespace}")
    odd = service()
    odd["spec"]["selector"][COLOUR_LABEL] = "red"
    kube.cluster.apply([odd], namespace=kube.namespace)
    outcome, _ = deploy(kube, tmp_path, "blue_green", [deployment("app:1")],
                        config(kube, blue_green={"service": "web"}))
    assert outcome.error == f"blue_green: Service web selects {COLOUR_LABEL}='red', not blue " \
                            f"or green"
    assert deployments(kube) == {}


def test_a_rollback_switches_back_to_the_colour_that_still_runs_the_run_s_images(
        kube, tmp_path):
    settings = config(kube, blue_green={"service": "web", "keep_old": True})
    deploy(kube, tmp_path, "blue_green", manifests("app:1"), settings)
    deploy(kube, tmp_path, "blue_green", manifests("app:2"), settings)
    outcome, log = deploy(kube, tmp_path, "blue_green", manifests("app:1"), settings,
                          trigger="rollback",
                          rollback_of=PreviousSuccess(1, None, {"colour": "blue"}))
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert outcome.outputs["colour"] == "blue" and outcome.outputs["previous_colour"] == "green"
    assert selector(kube)[COLOUR_LABEL] == "blue"
    assert deployments(kube) == {"web-blue": ["app:1"], "web-green": ["app:2"]}
    assert ("rollback: blue (web-blue) still runs the run's images; switching Service web "
            "back to it") in log.said


def test_a_rollback_to_a_colour_that_is_gone_deploys_the_run_s_manifests_again(
        kube, tmp_path):
    settings = config(kube, blue_green={"service": "web"})
    deploy(kube, tmp_path, "blue_green", manifests("app:1"), settings)
    deploy(kube, tmp_path, "blue_green", manifests("app:2"), settings)
    assert deployments(kube) == {"web-green": ["app:2"]}
    outcome, log = deploy(kube, tmp_path, "blue_green", manifests("app:1"), settings,
                          trigger="rollback",
                          rollback_of=PreviousSuccess(1, None, {"colour": "blue"}))
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert ("rollback: blue cannot be switched back to (web-blue is gone): deploying the "
            "run's manifests again") in log.said
    assert selector(kube)[COLOUR_LABEL] == "blue"
    assert deployments(kube) == {"web-blue": ["app:1"]}


# -- canary ------------------------------------------------------------------------------------

def stable(kube, image="app:1", replicas=4):
    applied = kube.cluster.apply([deployment(image, replicas), service()],
                                 namespace=kube.namespace)
    kube.cluster.wait_rollout(applied, timeout=20, log=lambda _: None)


def test_a_canary_goes_through_its_steps_then_the_stable_deployment_gets_the_new_version(
        kube, tmp_path):
    stable(kube)
    settings = config(kube, canary={
        "steps": [{"weight": 20, "pause": "0s"}, {"weight": 50, "pause": "0s"}],
        "analysis": 'echo "checking $FLOWPLAN_CANARY_DEPLOYMENTS at $FLOWPLAN_CANARY_WEIGHT%"'})
    outcome, log = deploy(kube, tmp_path, "canary", [deployment("app:2", 4), service()],
                          settings)
    assert outcome.status == Status.SUCCEEDED, outcome.error
    said = log.said
    assert "canary step 1 of 2: weight 20%: web-canary 1 of 5 pods (20%)" in said
    assert "canary step 2 of 2: weight 50%: web-canary 4 of 8 pods (50%)" in said
    assert "checking web-canary at 20%" in said and "checking web-canary at 50%" in said
    assert said[-1] == "deleted canary web-canary"
    assert deployments(kube) == {"web": ["app:2"]}
    assert outcome.summary["title"] == "web promoted after 2 canary steps"


def test_a_failed_analysis_deletes_the_canary_and_leaves_the_stable_version(kube, tmp_path):
    stable(kube)
    settings = config(kube, canary={
        "steps": [{"weight": 20}, {"weight": 50}],
        "analysis": 'echo "error rate 7%"; test "$FLOWPLAN_CANARY_WEIGHT" -lt 50'})
    outcome, log = deploy(kube, tmp_path, "canary", [deployment("app:2", 4)], settings)
    assert outcome.status == Status.FAILED
    assert outcome.error == ("canary analysis failed at step 2 (50%): exit code 1; canary "
                             "web-canary deleted, web left at the stable version")
    assert log.said.count("error rate 7%") == 2
    assert deployments(kube) == {"web": ["app:1"]}
    assert kube.cluster.get("apps/v1", "Deployment", "web", kube.namespace)["metadata"][
        "generation"] == 1                                  # never touched


def test_a_manual_pause_waits_and_the_continued_step_goes_on_to_promote(kube, tmp_path):
    stable(kube, replicas=2)
    settings = config(kube, canary={"steps": [{"weight": 50, "pause": "manual"},
                                              {"weight": 75, "pause": "0s"}]})
    objects = [deployment("app:2", 2)]
    outcome, log = deploy(kube, tmp_path, "canary", objects, settings)
    assert outcome.status == Status.WAITING
    assert outcome.summary["title"] == "canary at step 1 of 2: web-canary 2 of 4 pods (50%)"
    assert log.said[-1] == ("paused at canary step 1 of 2 (web-canary 2 of 4 pods (50%)): "
                            "flowplan resume app#3 goes on, flowplan cancel app#3 restores web")
    assert deployments(kube) == {"web": ["app:1"], "web-canary": ["app:2"]}

    outcome, log = deploy(kube, tmp_path, "canary", objects, settings, ledger=Ledger(resumes=1))
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert log.said[0] == "resumed after canary step 1 of 2"
    assert "canary step 2 of 2: weight 75%: web-canary 6 of 8 pods (75%)" in log.said
    assert deployments(kube) == {"web": ["app:2"]}


def test_a_canary_canceled_while_paused_is_deleted_and_the_stable_version_stays(
        kube, tmp_path):
    stable(kube, replicas=2)
    settings = config(kube, canary={"steps": [{"weight": 50, "pause": "manual"}]})
    objects = [deployment("app:2", 2)]
    assert deploy(kube, tmp_path, "canary", objects, settings)[0].status == Status.WAITING
    outcome, _ = deploy(kube, tmp_path, "canary", objects, settings,
                        ledger=Ledger(canceled_by="ann"))
    assert outcome.status == Status.CANCELED
    assert outcome.error == ("canceled by ann while paused; canary web-canary deleted, web left "
                             "at the stable version")
    assert deployments(kube) == {"web": ["app:1"]}


def test_a_cancel_during_a_timed_pause_ends_it_at_once_and_deletes_the_canary(kube, tmp_path):
    stable(kube, replicas=1)
    settings = config(kube, canary={"steps": [{"weight": 50, "pause": "5m"}]})
    step = context(tmp_path)
    threading.Timer(0.5, step.cancel.set).start()
    started = time.monotonic()
    outcome = run("canary", step, kube.cluster, [deployment("app:2", 1)], settings,
                  step.log.say)
    assert time.monotonic() - started < 10
    assert outcome.status == Status.CANCELED
    assert outcome.error.startswith("canceled at canary step 1; canary web-canary deleted")
    assert deployments(kube) == {"web": ["app:1"]}


def test_a_canary_that_never_gets_ready_is_deleted_with_the_reasons_of_its_pods(
        kube, tmp_path):
    stable(kube, replicas=1)
    settings = config(kube, timeout="1s", canary={"steps": [{"weight": 50, "pause": "manual"}]})
    outcome, _ = deploy(kube, tmp_path, "canary", [deployment("app:broken", 1)], settings)
    assert outcome.status == Status.FAILED
    assert outcome.error.startswith("the canary did not get ready at step 1 (50%): rollout not "
                                    "finished after 1")
    assert "BackOff" in outcome.error
    assert outcome.error.endswith("canary web-canary deleted, web left at the stable version")
    assert deployments(kube) == {"web": ["app:1"]}


def test_a_first_deploy_has_no_stable_version_to_compare_and_is_applied_directly(
        kube, tmp_path):
    settings = config(kube, canary={"steps": [{"weight": 50, "pause": "manual"}]})
    outcome, log = deploy(kube, tmp_path, "canary", [deployment("app:1", 1), service()],
                          settings)
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert log.said[0] == "no stable Deployment web yet: applied without canary steps"
    assert deployments(kube) == {"web": ["app:1"]}


def test_the_first_blue_green_deploy_replaces_the_uncoloured_deployment_a_rolling_one_left(
        kube, tmp_path):
    stable(kube, replicas=1)                        # `web`, as strategy = "rolling" left it
    outcome, log = deploy(kube, tmp_path, "blue_green", [deployment("app:2", 1), service()],
                          config(kube, blue_green={"service": "web"}))
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert selector(kube) == {"app": "web", COLOUR_LABEL: "blue"}
    assert deployments(kube) == {"web-blue": ["app:2"]}
    assert log.said[-1] == "deleted web"


def test_a_canary_step_rolled_back_applies_the_run_s_manifests_without_canary_steps(
        kube, tmp_path):
    stable(kube, image="app:2", replicas=1)
    settings = config(kube, canary={"steps": [{"weight": 50, "pause": "manual"}]})
    outcome, log = deploy(kube, tmp_path, "canary", [deployment("app:1", 1)], settings,
                          trigger="rollback", rollback_of=PreviousSuccess(1, None, {}))
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert log.said[0] == "rollback: the run's manifests are applied without canary steps"
    assert deployments(kube) == {"web": ["app:1"]}

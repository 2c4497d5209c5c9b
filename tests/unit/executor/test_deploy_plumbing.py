"""What core gives deploy steps: the groups and provider blocks a run reaches (clear keys only
when they are the applied ones), the ledger of per-host records, pause gates and their commands,
the definition a rollback repeats, and the per-host table of `runs show`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from conftest import approval, command, pipeline, stage, task
from flowplan.executor.run.deploys import DeployLedger
from flowplan.executor.run.gates import PendingGate, continue_commands
from flowplan.executor.run.approval import ApprovalRule
from flowplan.executor.service import rollback_definition
from flowplan.executor.targets import run_targets
from flowplan.store import DeployHostRecord, StepPlan, TaskPlan
from flowplan.values import Sensitive, sensitive_digest
from flowplan.views.run_text import deploy_host_lines

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"


class FakeResource:
    def __init__(self, attributes):
        self.attributes = attributes


class FakeConfig:
    def __init__(self, resources, providers=None):
        self.resources = {a: FakeResource(r) for a, r in resources.items()}
        self.providers = providers or {}


def group_state(private_key):
    return {"deployment_group.web": {
        "environment": "prod", "host_keys": {"web1": "SHA256:x"},
        "host": {"web1": {"address": "127.0.0.1", "private_key": private_key},
                 "web2": {"address": "127.0.0.2"}}}}


def test_a_group_gets_the_configured_key_that_was_applied():
    state = group_state({"$sensitive": sensitive_digest(KEY)})
    config = FakeConfig({"deployment_group.web": {
        "host": {"web1": {"private_key": Sensitive(KEY)}}}},
        {"alicloud": {"region": "cn-hangzhou", "secret_key": Sensitive("s3cr3t")}})
    targets = run_targets(state, config, "http://127.0.0.1:9")
    group = targets.deployment_group("deployment_group.web")
    assert group["host"]["web1"]["private_key"] == KEY
    assert group["host_keys"] == {"web1": "SHA256:x"}
    assert targets.deployment_group("web") is group
    assert targets.provider_block("alicloud") == {"region": "cn-hangzhou",
                                                  "secret_key": "s3cr3t"}
    assert targets.artifact_url == "http://127.0.0.1:9"
    assert KEY not in repr(targets) and "s3cr3t" not in repr(targets)


def test_a_key_changed_since_apply_is_not_handed_over():
    marker = {"$sensitive": sensitive_digest(KEY)}
    config = FakeConfig({"deployment_group.web": {
        "host": {"web1": {"private_key": Sensitive("another key")}}}})
    group = run_targets(group_state(marker), config).deployment_group("web")
    assert group["host"]["web1"]["private_key"] == marker
    # and without a config (it does not load) the state's markers stay
    assert run_targets(group_state(marker)).deployment_group("web")["host"]["web1"][
        "private_key"] == marker
    assert run_targets(group_state(marker)).deployment_group("db") is None


def deploy_step(**attributes):
    return {"type": "host_deploy", "artifact": "package", "deployment_group": "web",
            "download_path": "app", "script": "./start.sh", **attributes}


def test_a_rollback_repeats_only_the_deploy_steps_of_their_tasks():
    definition = pipeline({
        "build": stage({"package": task(("mvn", command("mvn package")))}),
        "deploy": stage({
            "gate": task(("ok", approval())),
            "hosts": task(("fetch", command("true")), ("ship", deploy_step()),
                          needs=["gate"]),
            "canary": task(("ship", deploy_step(batches=2)), needs=["hosts"]),
        }, trigger="manual"),
    }, source={"url": "x"})
    cut = rollback_definition(definition)
    assert list(cut["stages"]) == ["deploy"]
    deploy = cut["stages"]["deploy"]
    assert "trigger" not in deploy
    assert list(deploy["tasks"]) == ["hosts", "canary"]
    assert list(deploy["tasks"]["hosts"]["steps"]) == ["ship"]
    assert deploy["tasks"]["hosts"]["needs"] == []
    assert deploy["tasks"]["canary"]["needs"] == ["hosts"]
    assert "source" not in cut and cut["version"] == definition["version"]
    assert rollback_definition(pipeline({"b": stage({"t": task(("s", command("x")))})})) is None


def test_a_paused_deploy_is_continued_with_resume_or_stopped_with_cancel():
    pause = PendingGate("deploy", "hosts", "ship", 7, ApprovalRule.anyone(), "batch 1", "pause")
    gate = PendingGate("deploy", "gate", "ok", 8, ApprovalRule(("ann",), {}, "anyone"))
    assert pause.name == "paused deploy deploy/hosts/ship"
    assert continue_commands("app#3", [pause]) == ("flowplan resume app#3",
                                                   "flowplan cancel app#3")
    assert continue_commands("app#3", [gate, pause]) == (
        "flowplan approve app#3 --as ann", "flowplan reject app#3 --as ann",
        "flowplan resume app#3", "flowplan cancel app#3")


def test_the_ledger_reads_earlier_attempts_and_counts_resumes(service):
    store = service.store
    run = store.create_run("app", trigger="manual", user="u", definition={}, tasks=[
        TaskPlan("deploy", 0, "hosts", 0, [StepPlan("ship", "host_deploy", 0)])],
        variables={}, options={})
    first, = store.step_runs(run.id)
    ledger = DeployLedger(store, run.id, first.id, "deploy", "hosts", "ship")
    planned = ledger.plan([("web1", 1, "queued", None), ("web2", 2, "queued", None)])
    assert {h: r.status for h, r in planned.items()} == {"web1": "queued", "web2": "queued"}
    ledger.started("web1", {"address": "127.0.0.1"})
    ledger.finished("web1", "succeeded", exit_code=0)
    ledger.started("web2")
    ledger.finished("web2", "failed", exit_code=3, error="boom")
    # planning again keeps what the step run recorded (a paused deploy continued)
    assert ledger.plan([("web1", 1, "queued", None)])["web1"].status == "succeeded"
    assert ledger.resumes() == 0
    store.add_approval(run.id, stage="deploy", task="hosts", step="ship",
                       step_run_id=first.id, user="ann", decision="resume")
    assert ledger.resumes() == 1
    task_run, = store.task_runs(run.id)
    ids = store.start_task_attempt(task_run.id, 2, [StepPlan("ship", "host_deploy", 0)],
                                   status="running")
    retry = DeployLedger(store, run.id, ids["ship"], "deploy", "hosts", "ship")
    earlier = retry.earlier()
    assert {h: (r.status, r.exit_code) for h, r in earlier.items()} == {
        "web1": ("succeeded", 0), "web2": ("failed", 3)}
    assert retry.resumes() == 0 and retry.mine() == {}


def test_runs_show_lists_each_host_with_its_batch_status_exit_code_and_time():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    hosts = [DeployHostRecord(1, 1, 5, "web1", 1, "succeeded", 0, None, start,
                              start + timedelta(seconds=3), None),
             DeployHostRecord(2, 1, 5, "web2", 2, "failed", 3, "script exited 3", start,
                              start + timedelta(seconds=1), None),
             DeployHostRecord(3, 1, 5, "web3", 2, "skipped", None, None, None, None,
                              {"note": "succeeded in attempt 1"})]
    lines = deploy_host_lines(hosts, indent="  ")
    assert lines[0].split() == ["host", "batch", "status", "exit", "time"]
    assert lines[1].split()[:4] == ["web1", "1", "succeeded", "0"]
    assert lines[2].endswith("script exited 3") and lines[2].split()[:4] == [
        "web2", "2", "failed", "3"]
    assert lines[3].split()[:3] == ["web3", "2", "skipped"]
    assert lines[3].endswith("succeeded in attempt 1")


def test_a_rollback_repeats_kubectl_apply_steps_too():
    apply = {"type": "kubectl_apply", "manifests": "k8s", "strategy": "blue_green"}
    definition = pipeline({
        "build": stage({"image": task(("build", command("make image")))}),
        "deploy": stage({"cluster": task(("lint", command("true")), ("apply", apply))}),
    }, source={"url": "x"})
    cut = rollback_definition(definition)
    assert list(cut["stages"]) == ["deploy"]
    assert list(cut["stages"]["deploy"]["tasks"]["cluster"]["steps"]) == ["apply"]


def test_a_paused_canary_is_described_by_the_summary_it_paused_with_and_a_cancel_is_recorded(
        service):
    from flowplan.executor.run.gates import pending_gates
    from flowplan.executor.status import Status

    store = service.store
    definition = pipeline({"deploy": stage({"cluster": task(
        ("apply", {"type": "kubectl_apply", "manifests": "k8s"}))})})
    run = store.create_run("app", trigger="manual", user="u", definition=definition, tasks=[
        TaskPlan("deploy", 0, "cluster", 0, [StepPlan("apply", "kubectl_apply", 0)])],
        variables={}, options={})
    step, = store.step_runs(run.id)
    task_run, = store.task_runs(run.id)
    store.record(steps=[(step.id, {"status": Status.WAITING.value, "summary": {
        "title": "canary at step 1 of 2: web-canary 1 of 5 pods (20%)"}})],
        tasks=[(task_run.id, {"status": Status.WAITING.value})])
    gate, = pending_gates(store, store.get_run(run.id))
    assert (gate.kind, gate.name) == ("pause", "paused deploy deploy/cluster/apply")
    assert gate.description == "canary at step 1 of 2: web-canary 1 of 5 pods (20%)"
    ledger = DeployLedger(store, run.id, step.id, "deploy", "cluster", "apply")
    assert ledger.canceled_by() is None
    store.add_approval(run.id, stage="deploy", task="cluster", step="apply",
                       step_run_id=step.id, user="ann", decision="cancel")
    assert ledger.canceled_by() == "ann" and ledger.resumes() == 0

"""manual_approval steps: waiting, who may approve (users and roles), anyone/all, rejection,
timeout, and the run continuing after a decision."""

from __future__ import annotations

import time

import pytest

from conftest import approval, command, log_text, pipeline, stage, steps_of, task, tasks_of

from flowplan.executor.errors import ApprovalRefused, NothingToContinue
from flowplan.executor.status import Status
from flowplan.processes import account
from flowplan.store.gates import account_as

AS_ALICE = account_as(account().name, "alice")     # e.g. "root as alice": who recorded it


def gated(tmp_path, **attributes) -> dict:
    trace = tmp_path / "deployed"
    return pipeline({"release": stage({"deploy": task(
        ("build", command("echo built > artifact")),
        ("ok", approval(**attributes)),
        ("go", command(f"cat artifact > {trace}")))})})


def test_approval_step_waits_then_continues_in_the_same_workspace(service, tmp_path):
    outcome = service.start("app", gated(tmp_path, approvers=["alice"]))
    assert outcome.status == Status.WAITING
    assert outcome.gates[0].who == "alice"
    assert (outcome.gates[0].task, outcome.gates[0].step) == ("deploy", "ok")
    assert tasks_of(service, "app#1")["deploy"].status == "waiting"
    assert steps_of(service, "app#1")[("deploy", "ok")].status == "waiting"

    continued = service.approve("app#1", "alice", "ship it")
    assert continued.status == Status.SUCCEEDED
    assert (tmp_path / "deployed").read_text() == "built\n"
    assert log_text(service, "app#1", step="ok") == ["waiting for approval by alice",
                                                     f"approved by {AS_ALICE}"]
    (decision,) = service.store.approvals(service.get("app#1").id)
    assert (decision.user, decision.decision, decision.comment) == ("alice", "approve",
                                                                    "ship it")


def test_approval_by_someone_not_on_the_list_is_refused_with_who_may(service, tmp_path):
    service.store.grant_role("ops", "carol")
    service.start("app", gated(tmp_path, approvers=["alice", "bob"], roles=["ops"]))
    with pytest.raises(ApprovalRefused) as refused:
        service.approve("app#1", "mallory")
    assert str(refused.value) == ("mallory may not approve app#1. Who may: approval step "
                                  "release/deploy/ok: alice, bob or a member of role ops (carol)")
    assert service.store.approvals(service.get("app#1").id) == []
    assert service.get("app#1").status == "waiting"


def test_a_member_of_a_listed_role_may_approve(service, tmp_path):
    service.store.grant_role("ops", "carol")
    service.start("app", gated(tmp_path, roles=["ops"]))
    assert service.approve("app#1", "carol").status == Status.SUCCEEDED


def test_method_all_waits_for_every_approver(service, tmp_path):
    service.start("app", gated(tmp_path, approvers=["alice", "bob"], method="all"))
    assert service.approve("app#1", "alice").status == Status.WAITING
    with pytest.raises(NothingToContinue, match="alice already decided"):
        service.approve("app#1", "alice")
    assert service.approve("app#1", "bob").status == Status.SUCCEEDED


def test_rejection_fails_the_step_and_the_run(service, tmp_path):
    service.start("app", gated(tmp_path, approvers=["alice"]))
    outcome = service.reject("app#1", "alice", "not ready")
    assert outcome.status == Status.FAILED
    step = steps_of(service, "app#1")[("deploy", "ok")]
    assert (step.status, step.error) == ("failed", f"rejected by {AS_ALICE}: not ready")
    assert not (tmp_path / "deployed").exists()


def test_approval_after_the_timeout_does_not_count(service, tmp_path):
    service.start("app", gated(tmp_path, approvers=["alice"], timeout="1s"))
    time.sleep(1.2)
    outcome = service.approve("app#1", "alice")
    assert outcome.status == Status.FAILED
    assert "approval timed out: no decision within 1s" in steps_of(
        service, "app#1")[("deploy", "ok")].error


def test_approving_a_run_that_waits_for_nobody_is_refused(service, tmp_path):
    service.start("app", pipeline({"s": stage({"t": task(("s", command("true")))})}))
    with pytest.raises(NothingToContinue, match="app#1 is succeeded: there is nothing to approve"):
        service.approve("app#1", "alice")


def test_other_tasks_keep_running_while_one_waits(service, tmp_path):
    definition = pipeline({"s": stage({
        "gate": task(("ok", approval(approvers=["alice"]))),
        "work": task(("s", command("sleep 0.2; echo done")))})})
    outcome = service.start("app", definition)
    assert outcome.status == Status.WAITING
    assert tasks_of(service, "app#1")["work"].status == "succeeded"
    assert service.approve("app#1", "alice").status == Status.SUCCEEDED


def test_waiting_run_prints_the_exact_command_naming_the_approver(service, tmp_path):
    definition = pipeline({"s": stage({"gate": task(("ok", approval(approvers=["alice"])))})})
    outcome = service.start("app", definition)
    assert outcome.commands == ("flowplan approve app#1 --as alice",
                                "flowplan reject app#1 --as alice")


def test_with_two_gates_approve_picks_the_task(service, tmp_path):
    definition = pipeline({"s": stage({
        "one": task(("ok", approval(approvers=["alice"]))),
        "two": task(("ok", approval(approvers=["alice"])))})})
    outcome = service.start("app", definition)
    assert len(outcome.gates) == 2
    assert "flowplan approve app#1 --task one --as alice" in outcome.commands
    assert service.approve("app#1", "alice", task="one").status == Status.WAITING
    assert tasks_of(service, "app#1")["one"].status == "succeeded"
    assert service.approve("app#1", "alice").status == Status.SUCCEEDED


def test_expired_approvals_fail_without_anyone_looking(service, tmp_path):
    service.start("app", gated(tmp_path, approvers=["alice"], timeout="1s"))
    service.start("app", gated(tmp_path, approvers=["alice"]))          # no timeout: waits on
    assert service.expire_approvals() == []
    time.sleep(1.2)
    (outcome,) = service.expire_approvals()
    assert (outcome.run, outcome.status) == ("app#1", Status.FAILED)
    assert service.get("app#2").status == "waiting"

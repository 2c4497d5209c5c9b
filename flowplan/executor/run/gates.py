"""What a run waits for: its pending gates, read from the store.

A gate is pending when the run reached a manual stage nobody has decided on yet, when a task
waits at a `manual_approval` step, or when a deploy step paused (a "pause" gate: `flowplan resume`
continues it, and anyone may): `host_deploy` between batches, `kubectl_apply` at a canary step
(which `flowplan cancel` continues to undo: UNDOING_STEP_TYPES). `pending_gates` lists them with
the rule saying who may decide, so the scheduler can announce them (RunWaiting) and the service
can check an approval before it records it. A manual stage's decisions count from the run's "gate floor" on: `retry` raises the
floor of a rejected stage so that it can be decided again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowplan.executor.events import Gate
from flowplan.executor.run.approval import ApprovalRule
from flowplan.executor.status import Status
from flowplan.store import ApprovalRecord, RunRecord

GATE_FLOOR = "gate_floor"          # run option: stage -> approvals up to this id do not count
PAUSING_STEP_TYPES = ("host_deploy", "kubectl_apply")  # deploys that pause: resume continues
UNDOING_STEP_TYPES = ("kubectl_apply",)  # paused, canceled: continued to undo (a canary)
GATE_STEP_TYPES = ("manual_approval", *PAUSING_STEP_TYPES)


@dataclass(frozen=True)
class PendingGate:
    stage: str
    task: str | None
    step: str | None
    step_run_id: int | None
    rule: ApprovalRule
    description: str = ""
    kind: str = "approval"                  # or "pause": a paused deploy, for `resume`

    @property
    def name(self) -> str:
        if self.task is None:
            return f"manual stage {self.stage}"
        if self.kind == "pause":
            return f"paused deploy {self.stage}/{self.task}/{self.step}"
        return f"approval step {self.stage}/{self.task}/{self.step}"

    def event(self) -> Gate:
        return Gate(self.stage, self.task, self.step, self.description, self.rule.who(),
                    self.kind)


def stage_untouched(records: list) -> bool:
    """No task of the stage has started: a manual stage still needs someone to continue it."""
    return all(t.status in (Status.QUEUED, Status.SKIPPED) for t in records)


def stage_decisions(run: RunRecord, approvals: list[ApprovalRecord],
                    stage: str) -> list[ApprovalRecord]:
    floor = int((run.options.get(GATE_FLOOR) or {}).get(stage, 0))
    return [a for a in approvals if a.stage == stage and a.task is None and a.id > floor]


def _stages(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return sorted((definition.get("stages") or {}).items(),
                  key=lambda item: item[1].get("index", 0))


def pending_gates(store: Any, run: RunRecord) -> list[PendingGate]:
    tasks = store.task_runs(run.id)
    gates: list[PendingGate] = []
    waiting_tasks = [t for t in tasks if t.status == Status.WAITING]
    if waiting_tasks:
        steps = {(s.task_run_id, s.step): s for s in store.step_runs(run.id, latest=True)
                 if s.status == Status.WAITING}
        stage_defs = run.definition.get("stages") or {}
        for task in waiting_tasks:
            for (task_run_id, step_name), step in steps.items():
                if task_run_id != task.id:
                    continue
                attributes = (((stage_defs.get(task.stage) or {}).get("tasks") or {})
                              .get(task.task, {}).get("steps", {}).get(step_name, {}))
                if attributes.get("type") in PAUSING_STEP_TYPES:
                    gates.append(PendingGate(task.stage, task.task, step_name, step.id,
                                             ApprovalRule.anyone(),
                                             _pause_text(store, run, step), "pause"))
                    continue
                plain = {k: v for k, v in attributes.items() if not isinstance(v, dict)}
                gates.append(PendingGate(task.stage, task.task, step_name, step.id,
                                         ApprovalRule.of(plain, store.role_members),
                                         str(plain.get("description") or "")))
    approvals = None
    by_stage: dict[str, list] = {}
    for task in tasks:
        by_stage.setdefault(task.stage, []).append(task)
    for stage, definition in _stages(run.definition):
        records = by_stage.get(stage, [])
        if records and all(Status(t.status).finished for t in records):
            continue
        if definition.get("trigger") == "manual" and stage_untouched(records):
            approvals = approvals if approvals is not None else store.approvals(run.id)
            if not stage_decisions(run, approvals, stage):
                gates.append(PendingGate(stage, None, None, None, ApprovalRule.anyone(),
                                         f"stage {stage} starts when someone continues it"))
        break
    return gates


def _pause_text(store: Any, run: RunRecord, step: Any) -> str:
    """`deployed batch 1 of 2 (web1); 1 host left`, from the step run's host records; else the
    title of the summary the step paused with (`canary at step 1 of 3: ...`)."""
    hosts = store.deploy_hosts(run.id, step_run_id=step.id)
    if not hosts:
        title = (getattr(step, "summary", None) or {}).get("title")
        return str(title) if title else "the deploy is paused"
    batches = max(h.batch for h in hosts)
    done = [h for h in hosts if h.status in ("succeeded", "skipped")]
    batch = max((b for b in range(1, batches + 1)
                 if all(h.status in ("succeeded", "skipped") for h in hosts if h.batch <= b)),
                default=0)
    names = ", ".join(h.host for h in hosts if h.batch == batch)
    left = len(hosts) - len(done)
    return (f"deployed batch {batch} of {batches} ({names}); {left} host"
            f"{'s' if left != 1 else ''} left")


def continue_commands(ref: str, gates: list[PendingGate]) -> tuple[str, ...]:
    """What to type to decide on the gates: exact commands, naming who may decide."""
    pauses = [g for g in gates if g.kind == "pause"]
    if pauses:
        gates = [g for g in gates if g.kind != "pause"]
        resume = (f"flowplan resume {ref}", f"flowplan cancel {ref}")
        return (*continue_commands(ref, gates), *resume) if gates else resume
    def who(gate: PendingGate) -> str:
        if gate.rule.open_to_anyone:
            return ""
        people = list(gate.rule.approvers) + [m for members in gate.rule.roles.values()
                                              for m in members]
        return f" --as {people[0]}" if len(people) == 1 else " --as USER"

    if len(gates) <= 1:
        option = who(gates[0]) if gates else ""
        return (f"flowplan approve {ref}{option}", f"flowplan reject {ref}{option}")
    commands = []
    for gate in gates:
        option = f" --task {gate.task}" if gate.task else ""
        commands.append(f"flowplan approve {ref}{option}{who(gate)}")
    return tuple(commands) + (f"flowplan reject {ref} --task TASK --as USER",)

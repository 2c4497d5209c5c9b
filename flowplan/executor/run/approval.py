"""Approvals: who may decide on a gate, what the decisions so far amount to, and the
`manual_approval` step type.

A gate is a manual stage (`trigger = "manual"`: anyone may continue or reject it) or a
`manual_approval` step. A step's eligible people are the users in `approvers` plus the members of
the `roles` it lists (roles are kept in the store: `Store.grant_role(role, user)`); with neither,
anyone may decide. `method = "anyone"`: one approval from an eligible person approves. `"all"`:
every listed approver, and at least one member of every listed role, must approve. Any eligible
rejection rejects. With `timeout`, decisions must come within that time of the step's first start;
after it the step fails.

Recording decisions and refusing ineligible people is the run service's (flowplan.executor.service);
this module only judges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flowplan.config.schema import parse_duration
from flowplan.config.steps import ManualApprovalStep
from flowplan.executor.status import Status
from flowplan.executor.step_type import StepContext, StepResult

APPROVED, REJECTED = "approved", "rejected"


@dataclass(frozen=True)
class ApprovalRule:
    approvers: tuple[str, ...]
    roles: dict[str, tuple[str, ...]]          # role -> members
    method: str                                # anyone, all

    @classmethod
    def of(cls, attributes: dict, role_members: Callable[[str], list[str]]) -> ApprovalRule:
        return cls(tuple(attributes.get("approvers") or ()),
                   {role: tuple(role_members(role)) for role in attributes.get("roles") or ()},
                   attributes.get("method") or "anyone")

    @classmethod
    def anyone(cls) -> ApprovalRule:
        return cls((), {}, "anyone")

    @property
    def open_to_anyone(self) -> bool:
        return not self.approvers and not self.roles

    def eligible(self, user: str) -> bool:
        return (self.open_to_anyone or user in self.approvers
                or any(user in members for members in self.roles.values()))

    def who(self) -> str:
        """Who may decide, in words."""
        if self.open_to_anyone:
            return "anyone"
        parts = list(self.approvers)
        for role, members in self.roles.items():
            listed = ", ".join(members) if members else "no members yet"
            parts.append(f"a member of role {role} ({listed})")
        joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
        if self.method == "all" and len(parts) > 1:
            return "all of: " + "; ".join(parts)
        return joined

    def verdict(self, decisions: Sequence) -> tuple[str | None, object | None]:
        """(APPROVED, None), (REJECTED, the rejection) or (None, None) while undecided."""
        counted = [d for d in decisions if self.eligible(d.user)]
        for decision in counted:
            if decision.decision == "reject":
                return REJECTED, decision
        approving = {d.user for d in counted if d.decision == "approve"}
        if not approving:
            return None, None
        if self.method != "all" or self.open_to_anyone:
            return APPROVED, None
        if not set(self.approvers) <= approving:
            return None, None
        if any(not approving & set(members) for members in self.roles.values()):
            return None, None
        return APPROVED, None


def decided_by(decision) -> str:
    """Who made a decision, truthfully: `root as release-manager` (the account that recorded
    it, and the name it gave) when they differ (ApprovalRecord.decided_by)."""
    return getattr(decision, "decided_by", None) or decision.user


def deadline_of(timeout: str | None, first_started_at: datetime) -> datetime | None:
    if not timeout:
        return None
    return first_started_at + timedelta(seconds=parse_duration(timeout))


class ManualApprovalStepType:
    name = "manual_approval"
    config_model = ManualApprovalStep
    script_attributes = ()

    def run(self, context: StepContext) -> StepResult:
        config: ManualApprovalStep = context.config
        rule = ApprovalRule.of(context.attributes, context.role_members)
        deadline = deadline_of(config.timeout, context.first_started_at)
        decisions = [d for d in context.approvals if deadline is None or d.at <= deadline]
        verdict, rejection = rule.verdict(decisions)
        now = time.time()
        if verdict == REJECTED:
            note = f": {rejection.comment}" if rejection.comment else ""
            context.log.say(f"rejected by {decided_by(rejection)}{note}", now)
            return StepResult(Status.FAILED, error=f"rejected by {decided_by(rejection)}{note}")
        if verdict == APPROVED:
            users = ", ".join(sorted({decided_by(d) for d in decisions
                                      if d.decision == "approve"}))
            context.log.say(f"approved by {users}", now)
            return StepResult(Status.SUCCEEDED)
        if deadline is not None and datetime.now(deadline.tzinfo) >= deadline:
            context.log.say(f"no decision within {config.timeout}", now)
            return StepResult(Status.FAILED, error=f"approval timed out: no decision within "
                                                   f"{config.timeout}")
        if not context.approvals:
            limit = f" within {config.timeout}" if config.timeout else ""
            context.log.say(f"waiting for approval{limit} by {rule.who()}", now)
        return StepResult(Status.WAITING)

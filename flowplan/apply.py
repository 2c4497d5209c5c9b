"""Applying a plan: each change through its provider, in dependency order, state saved as we go.

`apply_plan` reads nothing but the plan, plus the config for two things the plan cannot hold:
provider settings and sensitive values in clear (the plan keeps only their salted hashes, and a
hash that no longer matches the config means the plan is stale). Changes run on a thread pool in
dependency order (deletes in reverse order); after each one the state is written through a
group-commit writer, so a crash loses nothing that was provisioned. A resource whose planned
attributes waited on a dependency's computed values (an id) is evaluated again once that
dependency is applied; when that final plan asks for another action than the plan did (an
update that is a replace now that the dependency's id is known), the resource is not applied and
its diagnostic names both actions, as Terraform's "inconsistent final plan" does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from flowplan.config.loader import reevaluate
from flowplan.config.model import Config
from flowplan.diagnostics import Diagnostics
from flowplan.events import (ApplyFailed, ApplyFinished, ApplySkipped, ApplyStarted, EventSink,
                             ProviderWarning, ignore)
from flowplan.graph import Graph
from flowplan.plan.decide import decide_action
from flowplan.plan.model import Action, Plan, ResourceChange
from flowplan.plan.planner import block_only_providers, configure_providers
from flowplan.providers import ApplyRequest, PlanRequest, Provider, ProviderRegistry
from flowplan.state import ResourceState, State, StateWriter
from flowplan.plan.decide import same_value
from flowplan.values import (Sensitive, contains_unknown, is_sensitive_marker, is_unknown_marker,
                             sensitive_matches, to_markers)


class StalePlanError(Exception):
    """The saved plan no longer matches the state or the config; make a new plan."""


class InconsistentFinalPlan(Exception):
    """Planned again during apply, with its dependencies' new values, a resource needs another
    action than the reviewed plan gave it; it is left as it is."""

    def __init__(self, address: str, planned: Action, final: Action, reason: str):
        self.address, self.planned, self.final = address, planned, final
        super().__init__(
            f"The plan said {planned.value} {address}; planned again with the values its "
            f"dependencies got during this apply, it is a {final.value} ({reason}). flowplan "
            f"did not {planned.value} or {final.value} it: the {final.value} was not in the "
            f"plan you approved. Run flowplan plan again to review it, then apply.")


@dataclass
class ApplyResult:
    added: int = 0
    changed: int = 0
    destroyed: int = 0
    failed: list[str] = field(default_factory=list)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.diagnostics.has_errors


def check_fresh(plan: Plan, state: State, state_exists: bool) -> None:
    """Refuse a plan made against another state lineage or an older serial."""
    if not state_exists and state.serial == 0 and plan.state_serial == 0:
        state.lineage = plan.state_lineage          # both saw "no state yet"
    if plan.state_lineage != state.lineage:
        raise StalePlanError(
            f"Saved plan is stale: it was made for state lineage {plan.state_lineage}, but the "
            f"state now has lineage {state.lineage}. Run flowplan plan again.")
    if plan.state_serial != state.serial:
        raise StalePlanError(
            f"Saved plan is stale: it was made at state serial {plan.state_serial}, and the "
            f"state has been written since (serial {state.serial}). Run flowplan plan again.")


def check_matches_config(plan: Plan, config: Config) -> None:
    """Refuse, before any change, a plan whose known values the config no longer gives.

    Apply takes values from the plan, but re-reads the config for what the plan could not hold:
    values that waited on a dependency's id, and sensitive values in clear. Both must still be
    what the plan was made from; otherwise applying would do something nobody reviewed.
    """
    problems = []
    for change in plan.changes:
        if change.after is None or change.action is Action.NOOP:
            continue
        resource = config.resources.get(change.address)
        if resource is None:
            problems.append(f"{change.address} is no longer in the config")
            continue
        current = to_markers(resource.attributes, change.after)
        changed = _differences(change.after, current, "")
        if changed:
            problems.append(f"{change.address} ({', '.join(changed)} changed)")
    if problems:
        raise StalePlanError("Saved plan is stale: the config changed since the plan was made: "
                             + "; ".join(problems) + ". Run flowplan plan again.")


def _differences(planned: Any, current: Any, path: str) -> list[str]:
    """Paths where the config's value contradicts a value the plan knew."""
    if is_unknown_marker(planned):
        return []
    if isinstance(planned, dict) and isinstance(current, dict) and not is_sensitive_marker(planned):
        found = []
        for key, value in current.items():
            if key in planned:
                found += _differences(planned[key], value, f"{path}.{key}" if path else key)
            else:
                found.append(f"{path}.{key}" if path else key)
        return found
    return [] if same_value(planned, current) else [path or "value"]


def apply_plan(plan: Plan, config: Config, state: State, backend: Any,
               registry: ProviderRegistry, parallelism: int = 10,
               on_event: EventSink = ignore) -> ApplyResult:
    """Make `plan` real. The caller holds the state lock and has checked the plan is fresh."""
    result = ApplyResult()
    pending = [c for c in plan.changes if c.action is not Action.NOOP]
    if not pending:
        return result
    check_matches_config(plan, config)
    checked = set() if plan.destroy else block_only_providers(config, registry)
    providers = configure_providers(config, registry, {c.provider for c in pending} | checked,
                                    result.diagnostics)
    if result.diagnostics.has_errors:
        result.failed = [c.address for c in pending]
        return result
    writer = StateWriter(backend, state)
    by_address = {c.address: c for c in pending}
    graph = _change_graph(pending, state)
    finished: dict[str, float] = {}

    def run_step(node: str) -> None:
        phase, address = node.split(" ", 1)
        change = by_address[address]
        provider = providers[change.provider]
        if phase == DESTROY_PHASE or change.action is not Action.REPLACE:
            on_event(ApplyStarted(address, change.action.value))
            finished[address] = time.monotonic()
        try:
            if phase == DESTROY_PHASE:
                _destroy(change, provider, writer, on_event)
                new_state = None
            else:
                new_state = _provision(change, provider, config, state, writer, on_event)
        except Exception as exc:
            on_event(ApplyFailed(address, change.action.value, str(exc)))
            raise
        if phase == DESTROY_PHASE and change.action is Action.REPLACE:
            return                                  # the create half reports the whole replace
        identifier = None
        if new_state is not None:
            value = new_state.attributes.get("id")
            identifier = value if isinstance(value, str) else None
        on_event(ApplyFinished(address, change.action.value,
                               time.monotonic() - finished[address], identifier))

    outcomes = graph.walk(run_step, parallelism=parallelism)
    failed: dict[str, Any] = {}            # per resource: its failed node, else a skipped one
    for node, outcome in outcomes.items():
        address = node.split(" ", 1)[1]
        if outcome.status == "failed" or (outcome.status == "skipped" and address not in failed):
            failed[address] = outcome
    for address, change in sorted(by_address.items()):
        outcome = failed.get(address)
        if outcome is None:
            result.added += change.action in (Action.CREATE, Action.REPLACE)
            result.changed += change.action is Action.UPDATE
            result.destroyed += change.action in (Action.DELETE, Action.REPLACE)
            continue
        result.failed.append(address)
        if outcome.status == "skipped":
            blocked = (outcome.blocked_by or "").split(" ", 1)[-1]
            on_event(ApplySkipped(address, blocked))
            continue
        config_resource = config.resources.get(address)
        summary = (f"Inconsistent final plan for {address}"
                   if isinstance(outcome.error, InconsistentFinalPlan)
                   else f"Failed to {change.action.value} {address}")
        result.diagnostics.error(summary, _error_text(outcome.error),
                                 config_resource.range if config_resource else None, address)
    return result


DESTROY_PHASE, PROVISION_PHASE = "destroy", "provision"


def _error_text(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    return str(error) or type(error).__name__


def _change_graph(changes: list[ResourceChange], state: State) -> Graph:
    """The order of the work: nodes are "destroy ADDR" and "provision ADDR".

    A delete has a destroy node, a create or update a provision node, and a replace both, the
    destroy first. Provisioning waits for what the resource depends on to be provisioned;
    destroying waits for what depends on the resource (in the state) to be destroyed, so a
    replaced namespace is not deleted while its repository still exists.
    """
    graph = Graph()
    actions = {c.address: c.action for c in changes}
    destroys = {c.address for c in changes if c.action in (Action.DELETE, Action.REPLACE)}
    provisions = {c.address for c in changes if c.action is not Action.DELETE}
    for address in destroys:
        graph.add_node(f"{DESTROY_PHASE} {address}")
    for address in provisions:
        graph.add_node(f"{PROVISION_PHASE} {address}")
        if actions[address] is Action.REPLACE:
            graph.add_edge(f"{PROVISION_PHASE} {address}", f"{DESTROY_PHASE} {address}")
    for change in changes:
        if change.address in provisions:
            for dependency in change.dependencies:
                if dependency in provisions:
                    graph.add_edge(f"{PROVISION_PHASE} {change.address}",
                                   f"{PROVISION_PHASE} {dependency}")
    for address in destroys:
        recorded = state.get(address)
        for dependency in recorded.dependencies if recorded else ():
            if dependency in destroys:
                graph.add_edge(f"{DESTROY_PHASE} {dependency}", f"{DESTROY_PHASE} {address}")
    return graph


def _destroy(change: ResourceChange, provider: Provider, writer: StateWriter,
             on_event: EventSink = ignore) -> None:
    _call_apply(provider, ApplyRequest(change.type, change.name, change.before, None), on_event)
    writer.forget(change.address)


def _provision(change: ResourceChange, provider: Provider, config: Config, state: State,
               writer: StateWriter, on_event: EventSink = ignore) -> ResourceState | None:
    planned = change.after
    assert planned is not None
    resource = config.resources.get(change.address)
    if resource is None:
        raise StalePlanError(f"{change.address} is in the plan but no longer in the config.")
    prior = change.before if change.action is Action.UPDATE else None
    if _waits_on_dependencies(planned, _computed(provider, change.type)):
        resource, _ = reevaluate(config, change.address, _live_attributes(writer))
        response = provider.plan(PlanRequest(change.type, change.name, prior,
                                             to_markers(resource.attributes, prior)))
        _raise_errors(response.diagnostics)
        planned = response.planned
        action, reason = decide_action(prior, planned, response.requires_replace)
        if prior is not None and action is Action.NOOP:
            return state.get(change.address)        # nothing left to change: harmless
        # The provision half of a replace is a create: prior is None for both.
        expected = Action.UPDATE if prior is not None else Action.CREATE
        if action is not expected:
            raise InconsistentFinalPlan(change.address, change.action, action, reason)
    clear = reveal_planned(planned, resource.attributes)
    response = _call_apply(provider, ApplyRequest(change.type, change.name, prior, planned,
                                                  clear), on_event)
    attributes = _redact_like(response.state or {}, planned)
    recorded = ResourceState(change.address, change.type, change.name, change.provider,
                             attributes, list(change.dependencies))
    writer.record(recorded)
    return recorded


def _call_apply(provider: Provider, request: ApplyRequest, on_event: EventSink = ignore):
    response = provider.apply(request)
    _raise_errors(response.diagnostics)
    for problem in response.diagnostics:       # warnings stop nothing: say them now
        if problem.severity != "error":
            on_event(ProviderWarning(f"{request.type}.{request.name}", problem.summary,
                                     problem.detail))
    return response


def _raise_errors(diagnostics) -> None:
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:
        raise RuntimeError("; ".join(f"{d.summary}: {d.detail}" if d.detail else d.summary
                                     for d in errors))


def _computed(provider: Provider, type_: str) -> tuple[str, ...]:
    schema = provider.schema().resource(type_)
    return schema.computed if schema else ()


def _waits_on_dependencies(planned: dict, computed: tuple[str, ...]) -> bool:
    return any(contains_unknown(v) for k, v in planned.items() if k not in computed)


def _live_attributes(writer: StateWriter):
    def lookup(address: str) -> dict | None:
        recorded = writer.state.get(address)
        return recorded.attributes if recorded else None
    return lookup


def reveal_planned(planned: Any, config_value: Any) -> Any:
    """`planned` with each sensitive marker replaced by the config's clear value.

    Raises StalePlanError when the config's value no longer hashes to the planned digest.
    """
    if is_sensitive_marker(planned):
        clear = config_value.value if isinstance(config_value, Sensitive) else config_value
        if clear is None or not sensitive_matches(planned, clear):
            raise StalePlanError("A sensitive value changed since the plan was made; run "
                                 "flowplan plan again.")
        return clear
    if isinstance(planned, dict):
        source = config_value if isinstance(config_value, dict) else {}
        return {k: reveal_planned(v, source.get(k)) for k, v in planned.items()}
    if isinstance(planned, list):
        source = config_value if isinstance(config_value, list) else []
        return [reveal_planned(v, source[i] if i < len(source) else None)
                for i, v in enumerate(planned)]
    return planned


def _redact_like(recorded: Any, planned: Any) -> Any:
    """Provider results with the planned sensitive markers put back over any clear values."""
    if is_sensitive_marker(planned):
        return planned
    if isinstance(recorded, dict) and isinstance(planned, dict):
        return {k: _redact_like(v, planned.get(k)) for k, v in recorded.items()}
    if isinstance(recorded, list) and isinstance(planned, list):
        return [_redact_like(v, planned[i] if i < len(planned) else None)
                for i, v in enumerate(recorded)]
    return recorded


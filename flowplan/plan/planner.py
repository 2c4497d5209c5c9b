"""The planner: config + state + providers -> a frozen Plan.

For each resource it asks the provider to refresh the prior state (optional), to validate the
config and to propose a planned state with the attributes that force replacement; then
decide_action picks the action. Resources in the state but not in the config are deleted. The plan
records the state's lineage and serial, so a saved plan is refused once the state moved on.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from flowplan.config.loader import reevaluate
from flowplan.config.model import Config, ProviderSource, ResourceConfig
from flowplan.diagnostics import Diagnostics, Range
from flowplan.events import EventSink, ProviderWarning, RefreshStarted, RefreshWarning, ignore
from flowplan.plan.decide import decide_action
from flowplan.plan.diff import diff_attributes
from flowplan.plan.model import Action, Plan, ResourceChange
from flowplan.providers import (ConfigureRequest, PlanRequest, PlanResponse, Provider,
                                ProviderBlock, ProviderDiagnostic, ProviderRegistry, ReadRequest,
                                ValidateRequest)
from flowplan.state import ResourceState, State
from flowplan.values import Sensitive, Unknown, to_markers


@dataclass(frozen=True)
class PlanOptions:
    refresh: bool = True
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    destroy: bool = False
    parallelism: int = 10


def configure_providers(config: Config, registry: ProviderRegistry, names: Iterable[str],
                        diagnostics: Diagnostics) -> dict[str, Provider]:
    """Configured provider instances for `names`; a missing provider is a diagnostic."""
    configured: dict[str, Provider] = {}
    for name in sorted(set(names)):
        if not registry.has(name):
            users = sorted(a for a, r in config.resources.items() if r.provider == name)
            where = config.resources[users[0]].range if users else None
            diagnostics.error(
                f'Provider "{name}" is not installed',
                f"{', '.join(users) or 'Resources in the state'} need the {name} provider. "
                f"Installed providers: {', '.join(registry.names) or 'none'}.", where)
            continue
        provider = registry.get(name)
        settings = {**config.settings, "working_dir": str(config.directory)}
        schema = registry.schema(name)
        blocks = {other: ProviderBlock(reveal(config.providers[other]),
                                       tuple(sorted(_source(config, other).literal)))
                  for other in (schema.reads if schema is not None else ())
                  if other in config.providers}
        problems = provider.configure(ConfigureRequest(
            reveal(config.providers.get(name, {})), str(config.directory), settings, blocks,
            team=config.team))
        for problem in problems:
            block = problem.block or name
            _add_provider_diagnostics(diagnostics, (problem,), None, f"provider.{block}",
                                      _source(config, block).attribute_range(problem.attribute)
                                      if block in config.provider_sources else None)
        configured[name] = provider
    return configured


def block_only_providers(config: Config, registry: ProviderRegistry) -> set[str]:
    """The installed providers that have a block in the config but no resource types (the
    `registry` provider): nothing else would configure them, and configuring them is their check
    (reachability, credentials), so every plan and apply does."""
    found = set()
    for name in config.providers:
        schema = registry.schema(name) if registry.has(name) else None
        if schema is not None and not schema.resources:
            found.add(name)
    return found


def validate_resources(config: Config, registry: ProviderRegistry) -> Diagnostics:
    """What each resource's provider finds wrong with its config, offline (`validate` only),
    each located at the attribute at fault."""
    diagnostics = Diagnostics()
    for address in sorted(config.resources):
        resource = config.resources[address]
        if not registry.has(resource.provider):
            continue                # the loader reported it
        provider = registry.get(resource.provider)
        configured = to_markers(resource.attributes) if resource.placeholders \
            else resource.attributes
        problems = provider.validate(ValidateRequest(resource.type, resource.name, configured,
                                                     tuple(sorted(resource.literal))))
        _add_provider_diagnostics(diagnostics, problems, resource, address)
    return diagnostics


def make_plan(config: Config, state: State, registry: ProviderRegistry,
              options: PlanOptions = PlanOptions(),
              on_event: EventSink = ignore) -> tuple[Plan | None, Diagnostics]:
    diagnostics = Diagnostics()
    wanted = _selected(config, state, options, diagnostics)
    provider_names = {config.resources[a].provider for a in wanted if a in config.resources}
    provider_names |= {state.get(a).provider for a in wanted if a in state}  # type: ignore[union-attr]
    if not options.destroy and not options.targets:
        provider_names |= block_only_providers(config, registry)
    providers = configure_providers(config, registry, provider_names, diagnostics)
    if diagnostics.has_errors:
        return None, diagnostics

    priors = {a: state.get(a) for a in wanted if a in state}
    refreshed: dict[str, dict | None] = {a: r.attributes for a, r in priors.items() if r}
    if options.refresh and priors:
        refreshed = _refresh(priors, providers, options.parallelism, on_event, diagnostics)

    changes: list[ResourceChange] = []
    planned: dict[str, dict] = {}          # what dependents see of a resource: its planned state
    changed: set[str] = set()

    def planned_attributes(address: str) -> dict | None:
        if address in planned:
            return planned[address]
        recorded = state.get(address)
        return recorded.attributes if recorded else None

    for address in _dependency_order(config, wanted):
        resource = None if options.destroy else config.resources.get(address)
        prior_state = priors.get(address)
        prior = refreshed.get(address)
        if resource is None:
            if prior is None:
                continue
            assert prior_state is not None
            reason = ("delete because destroy was requested" if options.destroy
                      else "delete because no longer in config")
            action, why = decide_action(prior, None, (), delete_reason=reason)
            changes.append(ResourceChange(address, prior_state.type, prior_state.name,
                                          prior_state.provider, action, why, prior, None, (),
                                          tuple(prior_state.dependencies)))
            continue
        if resource.reads_computed or changed.intersection(resource.dependencies):
            # Refer to the dependencies' planned values (an id being replaced is unknown again),
            # not to what the state recorded when the config was loaded.
            resource, problems = reevaluate(config, address, planned_attributes)
            diagnostics.extend(problems)
        change = _plan_resource(resource, prior, prior_state, providers[resource.provider],
                                address in options.replace, diagnostics, on_event)
        if change is not None:
            changes.append(change)
            if change.after is not None:
                planned[address] = change.after
            if change.action is not Action.NOOP:
                changed.add(address)
    changes.sort(key=lambda c: c.address)
    if diagnostics.has_errors:
        return None, diagnostics
    plan = Plan(changes=tuple(changes), state_lineage=state.lineage, state_serial=state.serial,
                destroy=options.destroy,
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                config_dir=str(config.directory))
    return plan, diagnostics


def _plan_resource(resource: ResourceConfig, prior: dict | None,
                   prior_state: ResourceState | None, provider: Provider, replace: bool,
                   diagnostics: Diagnostics, on_event: EventSink = ignore
                   ) -> ResourceChange | None:
    configured = (to_markers(resource.attributes, prior) if resource.placeholders
                  else resource.attributes)
    problems = provider.validate(ValidateRequest(resource.type, resource.name, configured,
                                                 tuple(sorted(resource.literal))))
    _add_provider_diagnostics(diagnostics, problems, resource, resource.address)
    if any(p.severity == "error" for p in problems):
        return None
    response = provider.plan(PlanRequest(resource.type, resource.name, prior, configured))
    _add_provider_diagnostics(diagnostics, response.diagnostics, resource, resource.address)
    for problem in response.diagnostics:   # a successful plan carries no diagnostics: say now
        if problem.severity != "error":
            on_event(ProviderWarning(resource.address, problem.summary, problem.detail))
    if any(p.severity == "error" for p in response.diagnostics):
        return None
    action, reason = decide_action(prior, response.planned, response.requires_replace, replace)
    if action is Action.REPLACE:
        # A replacement is a new object: plan it as a create, so computed values (an id) are
        # unknown rather than the old object's.
        as_new = provider.plan(PlanRequest(resource.type, resource.name, None, configured))
        if not any(p.severity == "error" for p in as_new.diagnostics):
            response = PlanResponse(as_new.planned, response.requires_replace,
                                    response.diagnostics)
    if prior is None and prior_state is not None:
        reason = "create because it no longer exists (deleted outside flowplan)"
    attribute_changes = ()
    if action in (Action.UPDATE, Action.REPLACE) and prior != response.planned:
        attribute_changes = diff_attributes(prior, response.planned, response.requires_replace)
    return ResourceChange(resource.address, resource.type, resource.name, resource.provider,
                          action, reason, prior, response.planned, attribute_changes,
                          tuple(resource.dependencies))


def _dependency_order(config: Config, addresses: set[str]) -> list[str]:
    """Config resources after what they depend on (then the rest), ties by address."""
    from flowplan.graph import Graph

    graph = Graph()
    for address in addresses:
        graph.add_node(address)
        resource = config.resources.get(address)
        for dependency in resource.dependencies if resource else ():
            if dependency in addresses:
                graph.add_edge(address, dependency)
    return graph.topological_order()


def _refresh(priors: dict[str, ResourceState | None], providers: dict[str, Provider],
             parallelism: int, on_event: EventSink,
             diagnostics: Diagnostics) -> dict[str, dict | None]:
    def read(item: tuple[str, ResourceState]) -> tuple[str, dict | None]:
        address, prior = item
        on_event(RefreshStarted(address))
        provider = providers[prior.provider]
        response = provider.read(ReadRequest(prior.type, prior.name, prior.attributes))
        # Warnings stop nothing, and a plan that succeeds carries no diagnostics: they go out
        # as events now. Errors stop the plan and are reported with it.
        for problem in response.diagnostics:
            if problem.severity != "error":
                on_event(RefreshWarning(address, problem.summary, problem.detail))
        _add_provider_diagnostics(diagnostics, [p for p in response.diagnostics
                                                if p.severity == "error"], None, address)
        if response.state is None:
            return address, None
        # Keep sensitive markers as recorded: providers read back clear or redacted values.
        return address, _keep_markers(response.state, prior.attributes)

    items = [(a, p) for a, p in priors.items() if p is not None]
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        return dict(pool.map(read, items))


def _keep_markers(read_back: dict, recorded: dict) -> dict:
    merged = dict(read_back)
    for key, value in recorded.items():
        if isinstance(value, dict) and len(value) == 1 and "$sensitive" in value:
            merged[key] = value
    return merged


def _selected(config: Config, state: State, options: PlanOptions,
              diagnostics: Diagnostics) -> set[str]:
    """Addresses to plan: everything, or the targets and what they depend on."""
    everything = set(state.addresses()) | (set() if options.destroy else set(config.resources))
    for address in (*options.targets, *options.replace):
        if address not in everything and address not in config.resources:
            diagnostics.error("Unknown resource address",
                              f"{address} is neither in the config nor in the state.")
    if not options.targets:
        return everything
    selected: set[str] = set()
    queue = [a for a in options.targets]
    while queue:
        address = queue.pop()
        if address in selected:
            continue
        selected.add(address)
        resource = config.resources.get(address)
        if resource is not None and not options.destroy:
            queue.extend(resource.dependencies)
    if options.destroy:                 # destroying a target destroys what depends on it first
        dependents = {r.address: r.dependencies for r in state}
        changed = True
        while changed:
            changed = False
            for address, needs in dependents.items():
                if address not in selected and selected.intersection(needs):
                    selected.add(address)
                    changed = True
    return selected & everything


def _source(config: Config, name: str) -> ProviderSource:
    return config.provider_sources.get(name) or ProviderSource(Range("", 0, 0))


def _add_provider_diagnostics(diagnostics: Diagnostics, problems: Iterable[ProviderDiagnostic],
                              resource: ResourceConfig | None, address: str,
                              where: Range | None = None) -> None:
    for problem in problems:
        if resource is not None:
            where = resource.attribute_range(problem.attribute)
        detail = problem.detail
        if problem.attribute:
            detail = f'"{problem.attribute}": {detail}' if detail else f'"{problem.attribute}"'
        if problem.severity == "error":
            diagnostics.error(problem.summary, detail, where, address)
        else:
            diagnostics.warning(problem.summary, detail, where, address)


def reveal(value: Any) -> Any:
    """Plain data with sensitive values in clear, for handing to a provider."""
    if isinstance(value, Sensitive):
        return reveal(value.value)
    if isinstance(value, Unknown):
        return value.marker()
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value

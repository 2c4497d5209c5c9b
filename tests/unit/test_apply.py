"""Applying a plan in-process: a resource planned again during apply, once a dependency's computed
values are known, is applied only when that final plan asks for the action the reviewed plan gave.

The provider here models a registry where a repository moves between namespaces of one instance in
place, but moving it to a namespace of another instance replaces it: which of the two a change is
can only be told once the new namespace's id is known.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from flowplan import engine
from flowplan.config.schema import BlockModel
from flowplan.plan.model import Action
from flowplan.providers import (ApplyRequest, ApplyResponse, PlanRequest, PlanResponse,
                                ProviderRegistry, ProviderSchema, ReadRequest, ReadResponse,
                                ResourceSchema)

UNKNOWN = {"$unknown": "known after apply"}


class AcrNamespace(BlockModel):
    instance_id: str
    name: str


class AcrRepository(BlockModel):
    namespace: str
    name: str


class InstanceAwareRegistry:
    """acr_namespace ids are "INSTANCE/NAME"; an acr_repository must be replaced when its
    namespace moves to another instance, which it can only tell when the namespace id is known."""

    name = "alicloud"

    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}
        self.applied: list[tuple[str, str]] = []        # (address, create|update|delete)

    def schema(self) -> ProviderSchema:
        return ProviderSchema(self.name, (
            ResourceSchema("acr_namespace", computed=("id",), force_new=("instance_id", "name"),
                           model=AcrNamespace),
            ResourceSchema("acr_repository", computed=("id",), force_new=("name",),
                           model=AcrRepository)))

    def configure(self, request):
        return []

    def validate(self, request):
        return []

    def read(self, request: ReadRequest) -> ReadResponse:
        found = self.objects.get(f"{request.type}.{request.name}")
        return ReadResponse(dict(found) if found is not None else None)

    def plan(self, request: PlanRequest) -> PlanResponse:
        planned = dict(request.config)
        prior = request.prior
        force_new: tuple[str, ...] = ("instance_id", "name")
        if request.type == "acr_repository":
            force_new = ("name",)
            namespace = planned.get("namespace")
            if prior is not None and isinstance(namespace, str) \
                    and namespace.split("/")[0] != prior["namespace"].split("/")[0]:
                force_new += ("namespace",)             # another instance: a new repository
        replaced = prior is not None and any(prior.get(k) != planned.get(k) for k in force_new)
        planned["id"] = prior["id"] if prior is not None and not replaced else dict(UNKNOWN)
        return PlanResponse(planned, force_new)

    def apply(self, request: ApplyRequest) -> ApplyResponse:
        address = f"{request.type}.{request.name}"
        if request.planned is None:
            self.applied.append((address, "delete"))
            self.objects.pop(address, None)
            return ApplyResponse(None)
        self.applied.append((address, "create" if request.prior is None else "update"))
        state = dict(request.planned)
        if request.type == "acr_namespace":
            state["id"] = f"{state['instance_id']}/{state['name']}"
        elif request.prior is None:
            state["id"] = f"repo-{len(self.applied)}"
        else:
            state["id"] = request.prior["id"]
        self.objects[address] = state
        return ApplyResponse(dict(state))

    def import_resource(self, request):
        raise NotImplementedError


CONFIG = """
    acr_namespace "team" {{
      instance_id = "{instance}"
      name        = "{namespace}"
    }}

    acr_repository "app" {{
      namespace = acr_namespace.team.id
      name      = "app"
    }}
"""


def action_of(plan, address: str) -> Action:
    return next(c.action for c in plan.changes if c.address == address)


def apply_config(directory: Path, provider: InstanceAwareRegistry, instance: str,
                 namespace: str):
    (directory / "main.hcl").write_text(
        textwrap.dedent(CONFIG.format(instance=instance, namespace=namespace)).lstrip(),
        encoding="utf-8")
    registry = ProviderRegistry(classes={}, environ={})
    registry.add("alicloud", provider)
    workspace = engine.load(directory, environ={}, registry=registry)
    return workspace, *engine.apply(workspace)


def test_repository_moved_to_a_namespace_of_the_same_instance_is_updated(tmp_path):
    provider = InstanceAwareRegistry()
    apply_config(tmp_path, provider, "cri-1", "team")
    provider.applied.clear()

    _, plan, result = apply_config(tmp_path, provider, "cri-1", "team2")
    assert action_of(plan, "acr_repository.app") is Action.UPDATE
    assert result.ok, result.diagnostics.items
    assert ("acr_repository.app", "update") in provider.applied
    assert provider.objects["acr_repository.app"]["namespace"] == "cri-1/team2"


def test_update_that_turns_into_a_replace_during_apply_is_refused_naming_both_actions(tmp_path):
    provider = InstanceAwareRegistry()
    workspace, _, _ = apply_config(tmp_path, provider, "cri-1", "team")
    before = workspace.backend.read().get("acr_repository.app")
    provider.applied.clear()

    workspace, plan, result = apply_config(tmp_path, provider, "cri-2", "team")
    # The plan could not tell: the new namespace's id was unknown, so it planned an update.
    assert action_of(plan, "acr_repository.app") is Action.UPDATE
    assert action_of(plan, "acr_namespace.team") is Action.REPLACE

    assert not result.ok
    assert result.failed == ["acr_repository.app"]
    [diagnostic] = result.diagnostics.items
    assert diagnostic.summary == "Inconsistent final plan for acr_repository.app"
    assert diagnostic.address == "acr_repository.app"
    assert diagnostic.detail.startswith(
        "The plan said update acr_repository.app; planned again with the values its "
        "dependencies got during this apply, it is a replace (replace because namespace "
        "changed).")
    assert diagnostic.range is not None and diagnostic.range.line == 6

    # The repository was neither updated nor replaced; the namespace was.
    assert [a for a in provider.applied if a[0] == "acr_repository.app"] == []
    assert provider.objects["acr_repository.app"]["namespace"] == "cri-1/team"
    state = workspace.backend.read()
    assert state.get("acr_repository.app").attributes == before.attributes
    assert state.get("acr_namespace.team").attributes["id"] == "cri-2/team"

"""The `flowplan` provider's resource schemas: the block models of `deployment_group` and
`schedule`, and the resource types it serves with their computed and force-new attributes.

The `pipeline` block's model (stages, tasks, steps, caches) stays in core,
flowplan.config.schema.Pipeline: the executor gives pipelines their meaning, and this provider
only registers them. Checks that go past a value's type (a cron expression, a time zone) are the
provider's `validate`, which `flowplan validate` runs as well as `plan`.
"""

from __future__ import annotations

from typing import Annotated, Optional

from pydantic import Field

from flowplan.config.schema import BlockModel, Nested, Pipeline, Ref
from flowplan.providers import ProviderSchema, ResourceSchema


class Host(BlockModel):
    address: str
    user: str = "root"
    port: int = Field(22, ge=1, le=65535)
    private_key: Optional[str] = None
    labels: dict[str, str] = {}


class EcsTarget(BlockModel):
    instance_ids: list[str] = []
    tags: dict[str, str] = {}
    region: Optional[str] = None


# Set by apply for a group with an `ecs {}` block: the instances resolved, by id
# (flowplan_providers.alicloud.deployment_groups).
ECS_COMPUTED = ("ecs_instances",)


class DeploymentGroup(BlockModel):
    environment: str
    description: str = ""
    host: Annotated[dict[str, Host], Nested()] = {}
    ecs: Annotated[Optional[EcsTarget], Nested(labels=0, many=False)] = None


class Schedule(BlockModel):
    pipeline: Annotated[str, Ref("pipeline")]
    cron: str
    timezone: str = "UTC"
    branch: Optional[str] = None
    variables: dict[str, str] = {}
    enabled: bool = True


SCHEMA = ProviderSchema(name="flowplan", resources=(
    ResourceSchema(type="pipeline", computed=("id", "content_hash"), model=Pipeline,
                   description="A pipeline registered into the store, with the hash of its "
                               "definition"),
    ResourceSchema(type="schedule", computed=("id",), force_new=("pipeline",), model=Schedule,
                   description="A cron schedule that starts a pipeline"),
    ResourceSchema(type="deployment_group", computed=("id", *ECS_COMPUTED),
                   model=DeploymentGroup,
                   description="Hosts a pipeline deploys to, registered into the store"),
), reads=("alicloud",))

"""The `flowplan` provider's resource schemas: the block models of `deployment_group` and
`schedule`, and the resource types it serves with their computed and force-new attributes.

A deployment group computes `host_keys`: the fingerprint (`SHA256:...`) of each SSH host's key,
by host label, as `apply` found it; deploys refuse a host presenting another key.

The `pipeline` block's model (stages, tasks, steps, caches) stays in core,
flowplan.config.schema.Pipeline: the executor gives pipelines their meaning, and this provider
only registers them. Checks that go past a value's type (a cron expression, a time zone) are the
provider's `validate`, which `flowplan validate` runs as well as `plan`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import Field

from flowplan.config.schema import BlockModel, Nested, Pipeline, Ref
from flowplan.providers import ProviderSchema, ResourceSchema


class Host(BlockModel):
    """One host of a deployment group: reached over SSH, or this machine (`connection = "local"`).

    `user` is the login user: `root` over SSH when not set, the user flowplan runs as for a local
    host. `key_file` is a path read when connecting (relative to the config directory), never its
    content; `private_key` is taken only from a sensitive value (`validate` refuses anything else);
    with neither, the SSH agent is used. `vars` reach the deploy script's environment on this host
    only. The host's key is not an attribute: `apply` records it in `host_keys`.
    """

    address: Optional[str] = None
    connection: Literal["ssh", "local"] = "ssh"
    user: Optional[str] = None
    port: int = Field(22, ge=1, le=65535)
    key_file: Optional[str] = None
    private_key: Optional[str] = None
    labels: dict[str, str] = {}
    vars: dict[str, str] = {}


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
    # skip a fire time when the head of the pipeline's source has not moved since the last
    # scheduled run (flowplan.server.schedules)
    only_if_changed: bool = False


SCHEMA = ProviderSchema(name="flowplan", resources=(
    ResourceSchema(type="pipeline", computed=("id", "content_hash"), model=Pipeline,
                   description="A pipeline registered into the store, with the hash of its "
                               "definition"),
    ResourceSchema(type="schedule", computed=("id",), force_new=("pipeline",), model=Schedule,
                   description="A cron schedule that starts a pipeline"),
    ResourceSchema(type="deployment_group", computed=("id", "host_keys", *ECS_COMPUTED),
                   model=DeploymentGroup,
                   description="Hosts a pipeline deploys to, registered into the store, with "
                               "the host key of each SSH host as apply found it"),
), reads=("alicloud",))

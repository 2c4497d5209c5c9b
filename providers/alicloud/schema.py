"""The `acr_namespace` and `acr_repository` resources as the alicloud provider serves them: their
block models and schema.

    acr_namespace "team" {
      name               = "team"
      instance_id        = "cri-kmsiwlxxdcva1234"   # Enterprise Edition; leave out: Personal
      auto_create_repo   = false                    # a push to a new repository creates it
      default_visibility = "PRIVATE"                # of repositories created that way
    }

    acr_repository "app" {
      namespace        = acr_namespace.team.name
      name             = "app"
      visibility       = "private"                  # PUBLIC or PRIVATE, any case
      summary          = "The app service"          # default: "Managed by flowplan"
      description      = "Built by pipeline.ci"
      instance_id      = acr_namespace.team.instance_id
      tag_immutability = true                       # a pushed tag is never overwritten
    }

Computed: `id` (`NAMESPACE/NAME`, or `INSTANCE:NAMESPACE/NAME` for Enterprise Edition: what
`flowplan import` takes), `repo_id` (Enterprise Edition's RepoId), `registry` (the registry host
images are pushed to) and `repository_url` (`REGISTRY/NAMESPACE/NAME`). A namespace's `id` is
`NAMESPACE` or `INSTANCE:NAMESPACE`. Changing `name`, `namespace` or `instance_id` replaces;
the rest is updated in place.
"""

from __future__ import annotations

from typing import Optional

from flowplan.config.schema import BlockModel
from flowplan.providers import ProviderSchema, ResourceSchema

DEFAULT_SUMMARY = "Managed by flowplan"


class AcrNamespace(BlockModel):
    name: str
    instance_id: Optional[str] = None
    auto_create_repo: bool = False
    default_visibility: str = "PRIVATE"


class AcrRepository(BlockModel):
    namespace: str
    name: str
    visibility: str = "PRIVATE"
    summary: str = DEFAULT_SUMMARY
    description: str = ""
    instance_id: Optional[str] = None
    tag_immutability: bool = False


NAMESPACE_DEFAULTS = {"instance_id": None, "auto_create_repo": False,
                      "default_visibility": "PRIVATE"}
REPOSITORY_DEFAULTS = {"visibility": "PRIVATE", "summary": DEFAULT_SUMMARY, "description": "",
                       "instance_id": None, "tag_immutability": False}

NAMESPACE = ResourceSchema(
    type="acr_namespace", model=AcrNamespace, computed=("id",),
    force_new=("name", "instance_id"),
    description="A Container Registry namespace (Enterprise Edition with instance_id, else "
                "Personal Edition)")

REPOSITORY = ResourceSchema(
    type="acr_repository", model=AcrRepository,
    computed=("id", "repo_id", "registry", "repository_url"),
    force_new=("name", "namespace", "instance_id"),
    description="A Container Registry image repository (Enterprise Edition with instance_id, "
                "else Personal Edition)")

SCHEMA = ProviderSchema(name="alicloud", resources=(NAMESPACE, REPOSITORY), reads=("alicloud",))

"""The `webhook` resource as the github provider serves it: its block model and schema.

    webhook "ci" {
      pipeline   = pipeline.ci
      repository = "octo-org/app"
      events     = ["push"]                    # GitHub event names; "*" for all
      branches   = ["main", "release/*"]       # globs; none: every branch
      tags       = []                          # globs; none: no tag pushes filtered out
      paths      = ["src/**"]                  # changed paths that start a run; none: any
      secret     = var.webhook_secret          # sensitive: GitHub signs deliveries with it
      active     = true
      variables  = { DEPLOY = "yes" }          # pipeline variables of the runs it starts
    }

`events`, `active`, the delivery URL and the secret live on GitHub; `pipeline`, `branches`,
`tags`, `paths` and `variables` are flowplan's own (the filters `flowplan serve` applies to a
delivery). Computed: `id`, GitHub's hook id as text, and `url`, the delivery URL registered,
`<flowplan.server.url>/hooks/NAME`. Changing `repository` replaces the hook.
"""

from __future__ import annotations

from typing import Annotated

from flowplan.config.schema import BlockModel, Ref
from flowplan.providers import ProviderSchema, ResourceSchema


class GithubWebhook(BlockModel):
    pipeline: Annotated[str, Ref("pipeline")]
    repository: str
    events: list[str] = ["push"]
    branches: list[str] = []
    tags: list[str] = []
    paths: list[str] = []
    secret: str
    active: bool = True
    variables: dict[str, str] = {}


# Attributes GitHub keeps (PATCHed when they change); the others are flowplan's only.
ON_GITHUB = ("events", "active", "url", "secret")
# Attributes GitHub does not know, taken from the config on import.
FLOWPLAN_ONLY = ("pipeline", "branches", "tags", "paths", "variables")

WEBHOOK = ResourceSchema(
    type="webhook", model=GithubWebhook, computed=("id", "url"), force_new=("repository",),
    sensitive=("secret",),
    description="A GitHub repository webhook delivering to flowplan serve at /hooks/NAME")

SCHEMA = ProviderSchema(name="github", resources=(WEBHOOK,), reads=("github",))

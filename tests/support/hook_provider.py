"""A stand-in for the `github` and `git` providers' `webhook` resource, for the server's tests
and bench/deliveries.py, until those providers are installed: it registers nothing anywhere and
records in the state what a real one would (the pipeline, the filters, the variables, the
repository, and the secret, which core keeps as a `$sensitive` marker).

    FLOWPLAN_PROVIDER_PLUGINS="github=hook_provider:GithubHooks,git=hook_provider:GitHooks"

with tests/support on PYTHONPATH. A block served by `git` says `provider = "git"`.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from flowplan.config.schema import BlockModel, Ref
from flowplan.providers import (ApplyResponse, ImportResponse, PlanResponse, ProviderSchema,
                                ReadResponse, ResourceSchema)


class Webhook(BlockModel):
    pipeline: Annotated[str, Ref("pipeline")]
    repository: Optional[str] = None        # owner/name (github) or a path on disk (git)
    events: list[str] = ["push"]
    branches: list[str] = []
    tags: list[str] = []
    paths: list[str] = []
    variables: dict[str, str] = {}
    secret: Optional[str] = None


WEBHOOK = ResourceSchema(type="webhook", model=Webhook, computed=("id",),
                         sensitive=("secret",))


class GithubHooks:
    name = "github"

    def schema(self) -> ProviderSchema:
        return ProviderSchema(name=self.name, resources=(WEBHOOK,))

    def configure(self, request: Any) -> list:
        return []

    def validate(self, request: Any) -> list:
        return []

    def read(self, request: Any) -> ReadResponse:
        return ReadResponse(state=request.state)

    def plan(self, request: Any) -> PlanResponse:
        planned = dict(request.config)
        planned["id"] = (request.prior or {}).get("id") or {"$unknown": "known after apply"}
        return PlanResponse(planned=planned, requires_replace=())

    def apply(self, request: Any) -> ApplyResponse:
        if request.planned is None:
            return ApplyResponse(state=None)
        state = dict(request.planned)
        state["id"] = (request.prior or {}).get("id") or f"{self.name}-{request.name}"
        return ApplyResponse(state=state)

    def import_resource(self, request: Any) -> ImportResponse:
        return ImportResponse(state=None)


class GitHooks(GithubHooks):
    name = "git"

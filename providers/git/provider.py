"""GitProvider: `webhook` resources as `post-receive` hooks in repositories on this machine.

    webhook "ci" {
      provider   = "git"
      pipeline   = pipeline.ci
      repository = "/srv/git/app.git"        # bare or a working tree; relative to the config
      branches   = ["main"]                  # the same filters as a GitHub webhook
      tags       = []
      paths      = []
      events     = ["push"]
      secret     = var.webhook_secret        # optional: also take signed deliveries
    }

`plan` finds the repository and where its hook goes (flowplan_providers.git.hooks), refuses a
hook that is someone else's there, and proposes `id` (the hook file's path), `url` (the delivery
URL, `<flowplan.server.url>/hooks/NAME`), `git_dir` (the repository's git directory, the path the
hook reports and `flowplan serve` matches deliveries against) and `hook_sha256` (of the script it
writes). `apply` writes the hook, or removes it when it is flowplan's. `read` looks at the file: gone
means removed by hand (plan installs it again), another content or a lost executable bit shows as
a changed `hook_sha256` (plan writes it again). `import_resource` takes a repository path and
adopts the flowplan hook found there. No secret anywhere: the server reads the pushed refs again
from the repository itself. A `secret` (optional, from a sensitive value) lets the same hook take
signed deliveries too (GitHub's X-Hub-Signature-256, GitLab's token, X-Flowplan-Token): a mirror's
or a script's; the hook file never holds it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal, Optional

from flowplan.config.schema import BlockModel, Ref
from flowplan.providers import (ApplyRequest, ApplyResponse, Attributes, ConfigureRequest,
                                ImportRequest, ImportResponse, PlanRequest, PlanResponse,
                                ProviderDiagnostic, ProviderSchema, ReadRequest, ReadResponse,
                                ResourceSchema, ValidateRequest)
from flowplan.values import KNOWN_AFTER_APPLY, contains_unknown
from flowplan_providers.github.delivery import delivery_url

from . import hooks
from .hooks import HookError


class GitWebhook(BlockModel):
    pipeline: Annotated[str, Ref("pipeline")]
    repository: str
    events: list[Literal["push"]] = ["push"]
    branches: list[str] = []
    tags: list[str] = []
    paths: list[str] = []
    variables: dict[str, str] = {}
    secret: Optional[str] = None


WEBHOOK = ResourceSchema(
    type="webhook", model=GitWebhook, computed=("id", "url", "git_dir", "hook_sha256"),
    force_new=("repository",), sensitive=("secret",),
    description="A post-receive hook in a repository on this machine that tells flowplan serve "
                "about pushes")
SCHEMA = ProviderSchema(name="git", resources=(WEBHOOK,))
DEFAULTS: Attributes = {"events": ["push"], "branches": [], "tags": [], "paths": [],
                        "variables": {}}
FLOWPLAN_ONLY = ("pipeline", "branches", "tags", "paths", "variables", "events", "secret")
NOT_EXECUTABLE = " (not executable)"


class GitProvider:
    """post-receive hooks on this machine; holds nothing but its settings, so it is thread-safe."""

    name = "git"

    def __init__(self) -> None:
        self._working_dir = Path(".")
        self._settings: Attributes = {}
        self.python = sys.executable            # the interpreter the hook runs

    def schema(self) -> ProviderSchema:
        return SCHEMA

    def configure(self, request: ConfigureRequest) -> list[ProviderDiagnostic]:
        self._working_dir = Path(request.working_dir)
        self._settings = dict(request.settings or {})
        unknown = sorted(request.config)
        return [ProviderDiagnostic(f"Unsupported argument `{name}`", attribute=name,
                                   detail="the git provider takes no settings")
                for name in unknown]

    def validate(self, request: ValidateRequest) -> list[ProviderDiagnostic]:
        if request.type != "webhook":
            return [_unknown_type(request.type)]
        if "secret" in request.literal:
            return [ProviderDiagnostic(
                "`secret` is written into the config", attribute="secret",
                detail="A webhook secret must not be written into the config files: declare a "
                       "variable with sensitive = true, give it a value with FP_VAR_NAME or a "
                       "*.auto.fpvars file, and write `secret = var.NAME`.")]
        repository = request.config.get("repository")
        if isinstance(repository, str) and (not repository.strip() or
                                            any(c in repository for c in "\0\r\n")):
            return [ProviderDiagnostic("Invalid `repository`", attribute="repository",
                                       detail="`repository` is the path of a git repository "
                                              "on this machine, such as \"/srv/git/app.git\"")]
        return []

    def plan(self, request: PlanRequest) -> PlanResponse:
        if request.type != "webhook":
            return PlanResponse(planned=dict(request.config),
                                diagnostics=(_unknown_type(request.type),))
        planned = {**DEFAULTS, **{k: v for k, v in request.config.items()
                                  if k not in WEBHOOK.computed}}
        url = delivery_url(self._settings, request.name)
        planned["url"] = url
        repository = planned.get("repository")
        if contains_unknown(repository):
            for key in ("id", "git_dir", "hook_sha256"):
                planned[key] = KNOWN_AFTER_APPLY.marker()
            return PlanResponse(planned=planned, requires_replace=WEBHOOK.force_new)
        try:
            location = hooks.locate(hooks.resolve_repository(repository, self._working_dir))
            found = hooks.inspect(location.path)
        except HookError as error:
            return PlanResponse(planned=planned, requires_replace=WEBHOOK.force_new,
                                diagnostics=(ProviderDiagnostic(
                                    f"Cannot install webhook.{request.name}", detail=str(error),
                                    attribute="repository"),))
        diagnostics = ()
        if found is not None and found.name != request.name:
            diagnostics = (ProviderDiagnostic(f"Cannot install webhook.{request.name}",
                                              detail=hooks.foreign(location.path, found),
                                              attribute="repository"),)
        planned.update(id=str(location.path), git_dir=str(location.git_dir),
                       hook_sha256=hooks.digest(hooks.script(request.name, url, self.python)))
        return PlanResponse(planned=planned, requires_replace=WEBHOOK.force_new,
                            diagnostics=diagnostics)

    def read(self, request: ReadRequest) -> ReadResponse:
        state = request.state
        path = state.get("id")
        if not isinstance(path, str) or not path:
            return ReadResponse(state=None)
        try:
            found = hooks.inspect(Path(path))
        except HookError as error:
            return ReadResponse(state=state, diagnostics=(ProviderDiagnostic(
                f"Cannot read webhook.{request.name}", detail=str(error),
                attribute="repository"),))
        if found is None:
            return ReadResponse(state=None)          # removed by hand: plan installs it again
        if found.name != request.name:
            return ReadResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"The hook of webhook.{request.name} was replaced", severity="warning",
                detail=hooks.foreign(Path(path), found)),))
        return ReadResponse(state={
            **state, "url": found.url or "(unreadable)",
            "hook_sha256": found.digest + ("" if found.executable else NOT_EXECUTABLE)})

    def apply(self, request: ApplyRequest) -> ApplyResponse:
        prior, planned = request.prior, request.planned
        name = f"webhook.{request.name}"
        try:
            if planned is None:
                warning = hooks.remove(Path(prior["id"]), request.name) \
                    if prior and isinstance(prior.get("id"), str) else None
                return ApplyResponse(state=None, diagnostics=() if warning is None else (
                    ProviderDiagnostic(f"Left the hook of {name} alone", detail=warning,
                                       severity="warning"),))
            location = hooks.locate(hooks.resolve_repository(planned["repository"],
                                                             self._working_dir))
            text = hooks.script(request.name, planned["url"], self.python)
            hooks.install(location, request.name, text)
            if prior and isinstance(prior.get("id"), str) and prior["id"] != str(location.path):
                hooks.remove(Path(prior["id"]), request.name)   # core.hooksPath moved it
        except HookError as error:
            verb = "remove" if planned is None else "install"
            return ApplyResponse(state=prior, diagnostics=(ProviderDiagnostic(
                f"Cannot {verb} the hook of {name}", detail=str(error)),))
        return ApplyResponse(state={**planned, "id": str(location.path),
                                    "git_dir": str(location.git_dir),
                                    "hook_sha256": hooks.digest(text)})

    def import_resource(self, request: ImportRequest) -> ImportResponse:
        if request.type != "webhook":
            return ImportResponse(state=None, diagnostics=(_unknown_type(request.type),))
        summary = f"Cannot import webhook.{request.name} from {request.id[:200]!r}"
        config = request.config or {}
        try:
            location = hooks.locate(hooks.resolve_repository(request.id, self._working_dir))
            found = hooks.inspect(location.path)
            repository = request.id
            configured = config.get("repository")
            if isinstance(configured, str) and hooks.locate(hooks.resolve_repository(
                    configured, self._working_dir)).git_dir == location.git_dir:
                repository = configured              # the config's spelling: no replacement
        except HookError as error:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                summary, detail=f"{error}; the id of a git webhook is the repository's path"),))
        if found is None:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                summary, detail=f"{location.path} does not exist: there is no hook to import "
                                "(apply installs one)"),))
        if found.name != request.name:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                summary, detail=hooks.foreign(location.path, found)),))
        state = {**DEFAULTS, **{k: config[k] for k in FLOWPLAN_ONLY if k in config},
                 "repository": repository, "url": found.url or "(unreadable)",
                 "id": str(location.path), "git_dir": str(location.git_dir),
                 "hook_sha256": found.digest + ("" if found.executable else NOT_EXECUTABLE)}
        return ImportResponse(state=state)


def _unknown_type(type_: str) -> ProviderDiagnostic:
    return ProviderDiagnostic(f"The git provider has no resource type {type_!r}",
                              detail="it manages webhook")


__all__ = ["GitProvider"]

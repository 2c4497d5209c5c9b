"""GithubProvider: `webhook` resources as GitHub repository hooks that deliver to `flowplan serve`.

`plan` proposes the config with the delivery URL (`<flowplan.server.url>/hooks/NAME`, from the
settings) and the prior hook id, and warns when that URL is loopback (GitHub cannot reach it);
`repository` forces replacement. `apply` creates the hook (name `web`, content type JSON, the
secret in clear from ApplyRequest.config), PATCHes it when what GitHub keeps changed (events,
active, URL, secret), or deletes it. `read` fetches the hook: gone (404) means deleted by hand;
changed events, active flag or URL come back as drift. GitHub never returns the secret, so the
marker recorded in the state stays. `import_resource` reads a hook registered by hand
(`OWNER/REPO/HOOKID`) into the state, with flowplan's own attributes (pipeline and filters, which
GitHub does not know) taken from the config.

The HTTP is flowplan_providers.github.client (retries, clean errors, never the token); the
`provider "github"` block is read by flowplan_providers.github.settings.
"""

from __future__ import annotations

import re
import threading

from flowplan.plan.decide import same_value
from flowplan.providers import (ApplyRequest, ApplyResponse, Attributes, ConfigureRequest,
                                ImportRequest, ImportResponse, PlanRequest, PlanResponse,
                                ProviderDiagnostic, ProviderSchema, ReadRequest, ReadResponse,
                                ValidateRequest)
from flowplan.values import KNOWN_AFTER_APPLY, contains_unknown

from .client import Backoff, GithubError, HooksClient, check_hook_id, check_repository
from .delivery import delivery_url, loopback
from .schema import FLOWPLAN_ONLY, ON_GITHUB, SCHEMA, WEBHOOK
from .settings import GithubSettings, read_settings

_EVENT = re.compile(r"(\*|[a-z][a-z_]{0,49})\Z")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
DEFAULTS: Attributes = {"events": ["push"], "branches": [], "tags": [], "paths": [],
                        "active": True, "variables": {}}


class GithubProvider:
    """GitHub repository webhooks; one instance serves every apply thread."""

    name = "github"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: GithubSettings | None = None
        self._client: HooksClient | None = None
        self._problems: list[ProviderDiagnostic] = []
        self._flowplan_settings: Attributes = {}
        self.backoff: Backoff | None = None        # tests: no waiting between retries

    def schema(self) -> ProviderSchema:
        return SCHEMA

    def configure(self, request: ConfigureRequest) -> list[ProviderDiagnostic]:
        settings, problems = read_settings(request.config, request.blocks.get("github"))
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None
            self._settings = settings
            self._problems = problems
            self._flowplan_settings = dict(request.settings or {})
        return problems

    def close(self) -> None:
        """Close the HTTP connections (not part of the protocol; for the CLI and tests)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- offline --------------------------------------------------------------------------------

    def validate(self, request: ValidateRequest) -> list[ProviderDiagnostic]:
        if request.type != "webhook":
            return [_unknown_type(request.type)]
        config = request.config
        found: list[ProviderDiagnostic] = []
        repository = config.get("repository")
        if isinstance(repository, str):
            problem = check_repository(repository)
            if problem:
                found.append(ProviderDiagnostic("Invalid `repository`", detail=problem,
                                                attribute="repository"))
        events = config.get("events", ["push"])
        if isinstance(events, list) and not contains_unknown(events):
            if not events:
                found.append(ProviderDiagnostic("No events", attribute="events",
                                                detail="`events` names at least one GitHub "
                                                       "event, such as \"push\""))
            bad = [e for e in events if not isinstance(e, str) or not _EVENT.match(e)]
            if bad:
                found.append(ProviderDiagnostic(
                    "Invalid event name", attribute="events",
                    detail=f"{bad[0]!r} is not a GitHub event name (such as \"push\", "
                           "\"pull_request\" or \"*\")"))
            duplicates = sorted({e for e in events if isinstance(e, str) and events.count(e) > 1})
            if duplicates:
                found.append(ProviderDiagnostic("Duplicate events", attribute="events",
                                                detail=f"{', '.join(duplicates)} given twice"))
        for key in ("branches", "tags", "paths"):
            values = config.get(key)
            if isinstance(values, list) and any(isinstance(v, str) and (not v.strip() or "\0" in v)
                                                for v in values):
                found.append(ProviderDiagnostic(f"Invalid `{key}`", attribute=key,
                                                detail=f"`{key}` holds globs; an empty one "
                                                       "matches nothing"))
        if "secret" in request.literal:
            found.append(ProviderDiagnostic(
                "`secret` is written into the config", attribute="secret",
                detail="A webhook secret must not be written into the config files. Declare a "
                       'variable with sensitive = true (variable "webhook_secret" { sensitive '
                       "= true }), give it a value with FP_VAR_webhook_secret or a "
                       "*.auto.fpvars file, and write `secret = var.webhook_secret`, or read "
                       'it with env("...").'))
        variables = config.get("variables")
        if isinstance(variables, dict):
            for name in variables:
                if not _VARIABLE.match(name):
                    found.append(ProviderDiagnostic(
                        "Invalid variable name", attribute="variables",
                        detail=f"{name!r} is not a variable name (letters, digits and _)"))
        return found

    # -- plan -----------------------------------------------------------------------------------

    def plan(self, request: PlanRequest) -> PlanResponse:
        if request.type != "webhook":
            return PlanResponse(planned=dict(request.config),
                                diagnostics=(_unknown_type(request.type),))
        planned = {**DEFAULTS, **{k: v for k, v in request.config.items()
                                  if k not in WEBHOOK.computed}}
        url = delivery_url(self._flowplan_settings, request.name)
        planned["url"] = url
        prior = request.prior
        replaced = prior is None or "id" not in prior or any(
            not same_value(prior.get(k), planned.get(k)) for k in WEBHOOK.force_new)
        planned["id"] = KNOWN_AFTER_APPLY.marker() if replaced else prior["id"]
        diagnostics = []
        if loopback(url):
            diagnostics.append(ProviderDiagnostic(
                "GitHub cannot reach the delivery URL", severity="warning",
                detail=f"webhook.{request.name} delivers to {url}, an address of this machine "
                       "only: set `url` in flowplan { server { ... } } to the address "
                       "GitHub reaches flowplan serve at (https://ci.example.com)"))
        return PlanResponse(planned=planned, requires_replace=WEBHOOK.force_new,
                            diagnostics=tuple(diagnostics))

    # -- GitHub ---------------------------------------------------------------------------------

    def read(self, request: ReadRequest) -> ReadResponse:
        state = request.state
        repository, hook_id = state.get("repository"), state.get("id")
        if check_repository(repository) or check_hook_id(hook_id):
            return ReadResponse(state=state, diagnostics=(ProviderDiagnostic(
                f"Cannot read webhook.{request.name}",
                detail="the state holds no GitHub repository and hook id for it: "
                       "`flowplan state rm` it and import it again"),))
        try:
            hook = self._hooks().get(repository, str(hook_id))
        except GithubError as error:
            return ReadResponse(state=state, diagnostics=(ProviderDiagnostic(
                f"Cannot read webhook.{request.name}", detail=error.message,
                attribute="repository"),))
        if hook is None:
            return ReadResponse(state=None)       # deleted by hand: plan creates it again
        return ReadResponse(state={**state, "events": list(hook.events), "active": hook.active,
                                   "url": hook.url}, diagnostics=_content_warnings(
                                       request.name, hook.content_type, hook.insecure_ssl))

    def apply(self, request: ApplyRequest) -> ApplyResponse:
        prior, planned = request.prior, request.planned
        clear = request.config or {}
        name = f"webhook.{request.name}"
        try:
            hooks = self._hooks()
            if planned is None:
                if prior and not check_hook_id(prior.get("id")):
                    hooks.delete(prior["repository"], str(prior["id"]))
                return ApplyResponse(state=None)
            settings = dict(events=list(planned.get("events") or ["push"]),
                            active=bool(planned.get("active", True)), url=planned["url"],
                            secret=_clear_secret(clear))
            if prior is None or check_hook_id(prior.get("id")):
                hook = hooks.create(planned["repository"], **settings)
                return ApplyResponse(state={**planned, "id": hook.id, "url": hook.url})
            if any(not same_value(prior.get(k), planned.get(k)) for k in ON_GITHUB):
                hook = hooks.update(prior["repository"], str(prior["id"]), **settings)
                return ApplyResponse(state={**planned, "id": hook.id, "url": hook.url})
            return ApplyResponse(state={**planned, "id": prior["id"]})
        except GithubError as error:
            verb = "delete" if planned is None else "create" if prior is None else "update"
            return ApplyResponse(state=prior, diagnostics=(ProviderDiagnostic(
                f"Cannot {verb} {name}", detail=self._explained(error, request)),))

    def import_resource(self, request: ImportRequest) -> ImportResponse:
        if request.type != "webhook":
            return ImportResponse(state=None, diagnostics=(_unknown_type(request.type),))
        repository, _, hook_id = request.id.rpartition("/")
        problem = check_repository(repository) or check_hook_id(hook_id)
        if problem:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"Cannot import webhook.{request.name} from {request.id[:120]!r}",
                detail=f"{problem}; the id of a GitHub webhook is OWNER/REPO/HOOKID, such as "
                       "octo-org/app/12345678 (the number is in the hook's settings URL)"),))
        try:
            hook = self._hooks().get(repository, hook_id)
        except GithubError as error:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"Cannot import webhook.{request.name}", detail=error.message),))
        if hook is None:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"Cannot import webhook.{request.name}",
                detail=f"GitHub has no hook {hook_id} on {repository} (or the token cannot "
                       "see the repository)"),))
        config = request.config or {}
        state: Attributes = {**{k: DEFAULTS[k] for k in FLOWPLAN_ONLY if k in DEFAULTS},
                             **{k: config[k] for k in FLOWPLAN_ONLY if k in config},
                             "repository": repository, "events": list(hook.events),
                             "active": hook.active, "url": hook.url, "id": hook.id}
        return ImportResponse(state=state, diagnostics=_content_warnings(
            request.name, hook.content_type, hook.insecure_ssl))

    # -- helpers --------------------------------------------------------------------------------

    def _hooks(self) -> HooksClient:
        with self._lock:
            if self._client is None:
                if self._settings is None:
                    reason = "; ".join(p.summary for p in self._problems) or \
                        "the provider was not configured"
                    raise GithubError(f'the provider "github" block is not usable: {reason}')
                self._client = HooksClient(self._settings, backoff=self.backoff)
            return self._client

    def _explained(self, error: GithubError, request: ApplyRequest) -> str:
        """The error, and for a hook that already exists with this URL, which one it is and how
        to adopt it."""
        if error.status != 422 or "already exists" not in error.message or request.planned is None:
            return error.message
        repository = request.planned["repository"]
        try:
            same = [h for h in self._hooks().list(repository) if h.url == request.planned["url"]]
        except GithubError:
            return error.message
        if not same:
            return error.message
        return (f"{error.message}. Hook {same[0].id} on {repository} already delivers to "
                f"{request.planned['url']}: adopt it with `flowplan import "
                f"webhook.{request.name} {repository}/{same[0].id}`")


def _clear_secret(config: Attributes) -> str | None:
    secret = config.get("secret")
    return secret if isinstance(secret, str) else None


def _content_warnings(name: str, content_type: str, insecure_ssl: str
                      ) -> tuple[ProviderDiagnostic, ...]:
    found = []
    if content_type != "json":
        found.append(ProviderDiagnostic(
            "Webhook sends form-encoded deliveries", severity="warning",
            detail=f"webhook.{name} has content type {content_type!r}; flowplan serve reads "
                   "JSON: the next apply that changes the hook sets it to json"))
    if insecure_ssl != "0":
        found.append(ProviderDiagnostic(
            "Webhook skips TLS verification", severity="warning",
            detail=f"webhook.{name} has insecure_ssl = {insecure_ssl!r}; the next apply that "
                   "changes the hook turns verification back on"))
    return tuple(found)


def _unknown_type(type_: str) -> ProviderDiagnostic:
    return ProviderDiagnostic(f"The github provider has no resource type {type_!r}",
                              detail="it manages webhook")


__all__ = ["GithubProvider"]

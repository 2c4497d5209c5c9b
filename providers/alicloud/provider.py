"""AlicloudProvider: `acr_namespace` and `acr_repository`, Container Registry namespaces and
image repositories, Enterprise Edition (an `instance_id`) or Personal Edition (none).

`plan` proposes the config with its defaults (a visibility as written: `"private"`; apply sends
it upper-cased, and read keeps the recorded spelling while the API's value is the same but for
case, so the next plan is quiet) and keeps the computed attributes of the prior unless a
force-new attribute changed; `name`, `namespace` and `instance_id` force replacement. `apply`
creates, updates in place (visibility, summary, description, tag immutability; a namespace's
auto-create and default visibility) or deletes. A create refused because the object already
exists (made in the console) fails with the `flowplan import` command that adopts it. `read`
gets the object: gone means deleted outside flowplan (the next plan creates it again); changed
attributes come back as drift.
`import_resource` takes the ids the schema documents (`team/app`, `cri-xxx:team/app`; a
namespace `team` or `cri-xxx:team`).

Personal Edition has no tag immutability: `tag_immutability` is then flowplan's own (the
`image_build` step refuses to push over an existing tag), kept in the state and said so by a
plan warning.

The SDK is imported on first use (flowplan_providers.alicloud.cr); the `provider "alicloud"`
block is read by flowplan_providers.alicloud.settings, as the flowplan provider reads it for
deployment groups on ECS.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from flowplan.plan.decide import same_value
from flowplan.providers import (ApplyRequest, ApplyResponse, Attributes, ConfigureRequest,
                                ImportRequest, ImportResponse, PlanRequest, PlanResponse,
                                ProviderDiagnostic, ProviderSchema, ReadRequest, ReadResponse,
                                ValidateRequest)
from flowplan.values import KNOWN_AFTER_APPLY, contains_unknown

from .schema import (NAMESPACE, NAMESPACE_DEFAULTS, REPOSITORY, REPOSITORY_DEFAULTS, SCHEMA)
from .settings import AlicloudSettings, read_settings

if TYPE_CHECKING:      # the SDK is loaded when a call is made, not when flowplan starts
    from .cr import CrClient, CrError, NamespaceInfo, RepositoryInfo
    from .ecs import Backoff

TYPES = {"acr_namespace": NAMESPACE, "acr_repository": REPOSITORY}
VISIBILITIES = ("PUBLIC", "PRIVATE")


class AlicloudProvider:
    """Container Registry namespaces and repositories; one instance serves every apply thread."""

    name = "alicloud"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: AlicloudSettings | None = None
        self._problems: list[ProviderDiagnostic] = []
        self._client: CrClient | None = None
        self.backoff: Backoff | None = None        # tests: no waiting between retries

    def schema(self) -> ProviderSchema:
        return SCHEMA

    def configure(self, request: ConfigureRequest) -> list[ProviderDiagnostic]:
        settings, problems = read_settings(request.blocks.get("alicloud"))
        with self._lock:
            self._client = None
            self._settings = settings
            self._problems = problems
        return problems

    # -- offline --------------------------------------------------------------------------------

    def validate(self, request: ValidateRequest) -> list[ProviderDiagnostic]:
        if request.type not in TYPES:
            return [_unknown_type(request.type)]
        from_cr = _names()
        config = request.config
        found: list[ProviderDiagnostic] = []

        def check(attribute: str, problem: str | None) -> None:
            if problem:
                found.append(ProviderDiagnostic(f"Invalid `{attribute}`", detail=problem,
                                                attribute=attribute))

        def known(attribute: str) -> Any:
            value = config.get(attribute)
            return None if value is None or contains_unknown(value) else value

        if known("instance_id") is not None:
            check("instance_id", from_cr.instance_problem(known("instance_id")))
        if request.type == "acr_namespace":
            if known("name") is not None:
                check("name", from_cr.namespace_problem(known("name")))
            check("default_visibility", _visibility_problem(known("default_visibility")))
            return found
        if known("namespace") is not None:
            check("namespace", from_cr.namespace_problem(known("namespace")))
        if known("name") is not None:
            check("name", from_cr.name_problem(known("name")))
        check("visibility", _visibility_problem(known("visibility")))
        for attribute, limit in (("summary", 100), ("description", 2000)):
            value = known(attribute)
            if isinstance(value, str) and (len(value) > limit or "\0" in value):
                check(attribute, f"`{attribute}` is at most {limit} characters")
        summary = known("summary")
        if isinstance(summary, str) and not summary.strip():
            check("summary", "Container Registry needs a summary: leave `summary` out for "
                             '"Managed by flowplan", or describe the repository')
        return found

    # -- plan -----------------------------------------------------------------------------------

    def plan(self, request: PlanRequest) -> PlanResponse:
        schema = TYPES.get(request.type)
        if schema is None:
            return PlanResponse(planned=dict(request.config),
                                diagnostics=(_unknown_type(request.type),))
        defaults = NAMESPACE_DEFAULTS if schema is NAMESPACE else REPOSITORY_DEFAULTS
        planned = {**defaults, **{k: v for k, v in request.config.items()
                                  if k not in schema.computed and v is not None}}
        prior = request.prior
        replaced = prior is None or "id" not in prior or any(
            not same_value(prior.get(k), planned.get(k)) for k in schema.force_new)
        for key in schema.computed:
            planned[key] = KNOWN_AFTER_APPLY.marker() if replaced else prior.get(key)
        if schema is REPOSITORY and not replaced and not prior.get("registry"):
            # an apply could not read the registry host: the next one does
            planned["registry"] = planned["repository_url"] = KNOWN_AFTER_APPLY.marker()
        diagnostics = []
        if schema is REPOSITORY and planned.get("instance_id") is None and \
                planned.get("tag_immutability") is True:
            diagnostics.append(ProviderDiagnostic(
                "Personal Edition does not enforce tag immutability", severity="warning",
                attribute="tag_immutability",
                detail=f"acr_repository.{request.name} has no instance_id: Container Registry "
                       "Personal Edition lets any push overwrite a tag. flowplan's image_build "
                       "step still refuses to push over an existing tag; other pushers can."))
        return PlanResponse(planned=planned, requires_replace=schema.force_new,
                            diagnostics=tuple(diagnostics))

    # -- Container Registry ---------------------------------------------------------------------

    def read(self, request: ReadRequest) -> ReadResponse:
        state = request.state
        address = f"{request.type}.{request.name}"
        try:
            if request.type == "acr_namespace":
                namespace = self._cr().get_namespace(state.get("instance_id"), state["name"])
                return ReadResponse(state=None if namespace is None else
                                    {**state, **_namespace_attributes(namespace, state)})
            repository = self._cr().get_repository(state.get("instance_id"),
                                                    state["namespace"], state["name"])
        except KeyError:
            return ReadResponse(state=state, diagnostics=(ProviderDiagnostic(
                f"Cannot read {address}", detail="the state holds no namespace and name for it: "
                "`flowplan state rm` it and import it again"),))
        except _cr_error() as error:
            return ReadResponse(state=state, diagnostics=(ProviderDiagnostic(
                f"Cannot read {address}", detail=error.message),))
        if repository is None:
            return ReadResponse(state=None)         # deleted outside flowplan
        return ReadResponse(state=_repository_state(repository, state))

    def apply(self, request: ApplyRequest) -> ApplyResponse:
        prior, planned = request.prior, request.planned
        address = f"{request.type}.{request.name}"
        verb = "delete" if planned is None else "create" if prior is None else "update"
        try:
            if request.type == "acr_namespace":
                return ApplyResponse(state=self._apply_namespace(prior, planned))
            state, warnings = self._apply_repository(prior, planned, address)
            return ApplyResponse(state=state, diagnostics=warnings)
        except _cr_error() as error:
            detail = error.message
            if verb == "create" and planned is not None:
                detail = self._explained(error, request.type, request.name, planned)
            return ApplyResponse(state=prior, diagnostics=(ProviderDiagnostic(
                f"Cannot {verb} {address}", detail=detail),))

    def import_resource(self, request: ImportRequest) -> ImportResponse:
        if request.type not in TYPES:
            return ImportResponse(state=None, diagnostics=(_unknown_type(request.type),))
        from_cr = _names()
        address = f"{request.type}.{request.name}"
        shown = request.id[:120]
        try:
            if request.type == "acr_namespace":
                instance_id, name = from_cr.parse_namespace_id(request.id)
            else:
                instance_id, namespace, name = from_cr.parse_repository_id(request.id)
        except ValueError as problem:
            form = ("NAMESPACE, or INSTANCE:NAMESPACE for Enterprise Edition (team, "
                    "cri-xxx:team)" if request.type == "acr_namespace" else
                    "NAMESPACE/NAME, or INSTANCE:NAMESPACE/NAME for Enterprise Edition "
                    "(team/app, cri-xxx:team/app)")
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"Cannot import {address} from {shown!r}",
                detail=f"{problem}; the id of an {request.type} is {form}"),))
        try:
            config = request.config or {}
            if request.type == "acr_namespace":
                found = self._cr().get_namespace(instance_id, name)
                if found is None:
                    return _import_missing(address, f"namespace {request.id}")
                state = {**NAMESPACE_DEFAULTS, **_namespace_attributes(found, config),
                         "name": name, "instance_id": instance_id,
                         "id": from_cr.namespace_id(instance_id, name)}
                return ImportResponse(state=state)
            repository = self._cr().get_repository(instance_id, namespace, name)
            if repository is None:
                return _import_missing(address, f"repository {request.id}")
            flowplan_side = config.get("tag_immutability")
            state = _repository_state(repository, {
                "tag_immutability": flowplan_side if isinstance(flowplan_side, bool) else False,
                "visibility": config.get("visibility"),
                "registry": self._registry(repository)})
            return ImportResponse(state=state)
        except _cr_error() as error:
            return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
                f"Cannot import {address}", detail=error.message),))

    # -- namespaces and repositories ------------------------------------------------------------

    def _apply_namespace(self, prior: Attributes | None, planned: Attributes | None
                         ) -> Attributes | None:
        cr = self._cr()
        if planned is None:
            if prior is not None:
                cr.delete_namespace(prior.get("instance_id"), prior["name"])
            return None
        instance_id, name = planned.get("instance_id"), planned["name"]
        settings = dict(auto_create=bool(planned["auto_create_repo"]),
                        default_visibility=planned["default_visibility"].upper())
        if prior is None or "id" not in prior:
            cr.create_namespace(instance_id, name, **settings)
        else:
            cr.update_namespace(instance_id, name, **settings)
        return {**planned, "id": _names().namespace_id(instance_id, name)}

    def _apply_repository(self, prior: Attributes | None, planned: Attributes | None,
                          address: str) -> tuple[Attributes | None, tuple[ProviderDiagnostic, ...]]:
        cr = self._cr()
        if planned is None:
            if prior is not None:
                cr.delete_repository(prior.get("instance_id"), prior["namespace"],
                                     prior["name"], prior.get("repo_id"))
            return None, ()
        instance_id, namespace, name = (planned.get("instance_id"), planned["namespace"],
                                        planned["name"])
        settings = dict(visibility=planned["visibility"].upper(), summary=planned["summary"],
                        description=planned["description"],
                        tag_immutability=bool(planned["tag_immutability"]))
        if prior is None or "id" not in prior:
            cr.create_repository(instance_id, namespace, name, **settings)
            repository = cr.get_repository(instance_id, namespace, name)
            if repository is None:
                raise _cr_error()(f"repository {namespace}/{name} was created but cannot be "
                                  "read back", code="REPO_NOT_EXIST")
            try:
                registry, warnings = self._registry(repository), ()
            except _cr_error() as error:     # created: record it, and say what is missing
                registry, warnings = None, (ProviderDiagnostic(
                    f"{address} has no registry host yet", severity="warning",
                    detail=f"{error.message}; the next plan reads it again"),)
            return _repository_state(repository, {**planned, "registry": registry}), warnings
        repository = cr.get_repository(instance_id, namespace, name)
        if repository is None:
            raise _cr_error()(f"repository {_names().repository_id(instance_id, namespace, name)}"
                              " no longer exists: plan again to create it",
                              code="REPO_NOT_EXIST")
        cr.update_repository(repository, **settings)
        registry = prior.get("registry") if isinstance(prior.get("registry"), str) else \
            self._registry(repository)
        repository = cr.get_repository(instance_id, namespace, name) or repository
        return _repository_state(repository, {**planned, "registry": registry}), ()

    def _registry(self, repository: RepositoryInfo) -> str:
        if repository.instance_id:
            return self._cr().registry_host(repository.instance_id)
        return repository.registry or f"registry.{self._cr().region}.aliyuncs.com"

    def _explained(self, error: CrError, type_: str, name: str, planned: Attributes) -> str:
        """The error, and when the object it tried to create exists already, the import
        command that adopts it."""
        from_cr = _names()
        cr = self._cr()
        instance_id = planned.get("instance_id")
        try:
            if type_ == "acr_namespace":
                exists = cr.get_namespace(instance_id, planned["name"]) is not None
                object_id = from_cr.namespace_id(instance_id, planned["name"])
            else:
                if instance_id:
                    exists = cr.find_repository(instance_id, planned["namespace"],
                                                planned["name"]) is not None
                else:
                    exists = cr.get_repository(None, planned["namespace"],
                                               planned["name"]) is not None
                object_id = from_cr.repository_id(instance_id, planned["namespace"],
                                                  planned["name"])
        except _cr_error():
            return error.message
        if not exists:
            if error.code == "NAMESPACE_NOT_EXIST" and type_ == "acr_repository":
                return (f"{error.message}. Declare the namespace (acr_namespace) and refer to "
                        "it, or create it in the console first")
            return error.message
        what = "namespace" if type_ == "acr_namespace" else "repository"
        return (f"{error.message}. The {what} {object_id} already exists outside flowplan: "
                f"adopt it with `flowplan import {type_}.{name} {object_id}`, or choose "
                "another name")

    def _cr(self) -> CrClient:
        with self._lock:
            if self._client is None:
                from .cr import CrClient, CrError
                from .ecs import Backoff

                settings = self._settings
                if settings is None:
                    reason = "; ".join(p.summary for p in self._problems) or \
                        'the config has no provider "alicloud" block'
                    raise CrError(f'the provider "alicloud" block is not usable: {reason}')
                missing = [n for n in ("region", "access_key", "secret_key")
                           if not getattr(settings, n)]
                if missing:
                    raise CrError(f'the provider "alicloud" block has no '
                                  f'{" or ".join(missing)}, which Container Registry needs')
                self._client = CrClient(settings, settings.region,
                                        backoff=self.backoff or Backoff())
            return self._client


def _names() -> Any:
    from . import cr

    return cr


def _cr_error() -> type[Exception]:
    from .cr import CrError

    return CrError


def _visibility_problem(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.upper() in VISIBILITIES):
        return None
    return f"{value!r} is not a visibility: PUBLIC or PRIVATE (any case)"


def _spelled(real: str, recorded: Any) -> str:
    """The API's visibility, in the spelling recorded (or configured) when it is the same."""
    return recorded if isinstance(recorded, str) and recorded.upper() == real else real


def _namespace_attributes(namespace: NamespaceInfo, recorded: Attributes) -> Attributes:
    return {"auto_create_repo": namespace.auto_create,
            "default_visibility": _spelled(namespace.default_visibility,
                                           recorded.get("default_visibility"))}


def _repository_state(repository: RepositoryInfo, base: Attributes) -> Attributes:
    """`base` with what Container Registry says of the repository; `registry` from `base`
    unless the repository names its own (Personal Edition)."""
    from .cr import repository_id

    registry = repository.registry if repository.registry and not repository.instance_id \
        else base.get("registry")
    state = {**REPOSITORY_DEFAULTS, **base, "namespace": repository.namespace,
             "name": repository.name, "instance_id": repository.instance_id,
             "visibility": _spelled(repository.visibility, base.get("visibility")),
             "summary": repository.summary,
             "description": repository.description,
             "id": repository_id(repository.instance_id, repository.namespace, repository.name),
             "repo_id": repository.repo_id, "registry": registry,
             "repository_url": f"{registry}/{repository.namespace}/{repository.name}"
             if registry else None}
    if repository.instance_id:        # Personal Edition: tag_immutability is flowplan's own
        state["tag_immutability"] = repository.tag_immutability
    return state


def _import_missing(address: str, what: str) -> ImportResponse:
    return ImportResponse(state=None, diagnostics=(ProviderDiagnostic(
        f"Cannot import {address}",
        detail=f"Container Registry has no {what} (or the access key cannot see it)"),))


def _unknown_type(type_: str) -> ProviderDiagnostic:
    return ProviderDiagnostic(f"The alicloud provider has no resource type {type_!r}",
                              detail="it manages acr_namespace and acr_repository")


__all__ = ["AlicloudProvider"]

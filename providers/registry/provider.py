"""RegistryProvider: the `provider "registry" {}` block, checked against the registry it names.

    provider "registry" {
      url      = "https://registry.example.com"   # or "http://127.0.0.1:5000" with insecure
      username = "ci"
      password = var.registry_password           # a variable with sensitive = true
      insecure = false                           # true: plain HTTP or unverified TLS allowed
    }

It has no resource types: repositories appear on first push (the image_build step pushes with
these credentials, through flowplan_providers.registry.client). `configure`, which every plan and
apply calls for a config that has the block, refuses a password written as constant text (at its
line) and then checks the registry: GET /v2/ and, when it asks for one, a Bearer token for the
credentials. What is wrong becomes one diagnostic at the attribute at fault: the registry is
unreachable or not a registry v2 (`url`), the credentials are refused (`password`). No secret is
ever in a diagnostic.
"""

from __future__ import annotations

from flowplan.providers import (ApplyRequest, ApplyResponse, ConfigureRequest, ImportRequest,
                                ImportResponse, PlanRequest, PlanResponse, ProviderDiagnostic,
                                ProviderSchema, ReadRequest, ReadResponse, ValidateRequest)

from .client import (TIMEOUT, RegistryAccess, RegistryError, Retry, access_from_block,
                     block_problems, check_access)

BLOCK = "registry"
SCHEMA = ProviderSchema(name=BLOCK, resources=(), reads=(BLOCK,))

# What each kind of failure is called, and the attribute it is shown at.
_FAILURES = {
    "unreachable": ("Cannot reach the registry", "url"),
    "not_registry": ("Not a Docker registry v2", "url"),
    "credentials": ("The registry refused the credentials", "password"),
    "denied": ("The registry denied access", "username"),
    "malformed": ("The registry's answer cannot be used", "url"),
    "refused": ("The registry cannot be used", "url"),
    "config": ("Invalid registry settings", "url"),
}


class RegistryProvider:
    """The registry block's check; holds nothing between calls but the access it checked."""

    name = BLOCK

    def __init__(self) -> None:
        self.access: RegistryAccess | None = None
        self.timeout = TIMEOUT                   # tests: shorter
        self.retry: Retry | None = None          # tests: fewer attempts, no waiting

    def schema(self) -> ProviderSchema:
        return SCHEMA

    def configure(self, request: ConfigureRequest) -> list[ProviderDiagnostic]:
        self.access = None
        block = request.blocks.get(BLOCK)
        if block is None:
            return []                            # no block: nothing to check
        config = block.config
        problems = [_problem(summary, attribute, detail)
                    for attribute, summary, detail in block_problems(config)]
        if "password" in block.literal:
            problems.append(_problem(
                "`password` is written into the config", "password",
                "A registry password must not be written into the config files. Declare a "
                'variable with sensitive = true (variable "registry_password" { sensitive = '
                "true }), set it with FP_VAR_registry_password, and write `password = "
                'var.registry_password`, or read it with env("...").'))
        if problems:
            return problems
        try:
            access = access_from_block(config)
            check_access(access, timeout=self.timeout, retry=self.retry)
        except RegistryError as error:
            summary, attribute = _FAILURES.get(error.reason, _FAILURES["refused"])
            if attribute == "password" and "password" not in config:
                attribute = "url"                # no credentials given: the registry wants some
            return [_problem(summary, attribute, error.message)]
        self.access = access
        return []

    # -- no resource types ----------------------------------------------------------------------

    def validate(self, request: ValidateRequest) -> list[ProviderDiagnostic]:
        return [_no_resources(request.type)]

    def read(self, request: ReadRequest) -> ReadResponse:
        return ReadResponse(state=request.state, diagnostics=(_no_resources(request.type),))

    def plan(self, request: PlanRequest) -> PlanResponse:
        return PlanResponse(planned=dict(request.config),
                            diagnostics=(_no_resources(request.type),))

    def apply(self, request: ApplyRequest) -> ApplyResponse:
        return ApplyResponse(state=request.prior, diagnostics=(_no_resources(request.type),))

    def import_resource(self, request: ImportRequest) -> ImportResponse:
        return ImportResponse(state=None, diagnostics=(_no_resources(request.type),))


def _problem(summary: str, attribute: str, detail: str) -> ProviderDiagnostic:
    return ProviderDiagnostic(summary, detail=detail, attribute=attribute, block=BLOCK)


def _no_resources(type_: str) -> ProviderDiagnostic:
    return ProviderDiagnostic(f"The registry provider has no resource type {type_!r}",
                              detail="Repositories of a plain registry appear on first push; "
                                     "the provider only checks its `provider \"registry\"` "
                                     "block.")

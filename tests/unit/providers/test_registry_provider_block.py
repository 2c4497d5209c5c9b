"""The `provider "registry"` block through flowplan's plan and apply: checked against a real
docker-registry (token auth) whenever the config has it, though it declares no resource; a
password written into the config refused at its line; what the registry says wrong shown at the
attribute at fault, never with the password. Also the block's offline rules (access_from_block)
and the planner rule that configures providers that have a block and no resource types."""

from __future__ import annotations

import pytest

from flowplan.diagnostics import DiagnosticsError
from flowplan.providers import (ConfigureRequest, PlanRequest, ProviderDiagnostic,
                                ProviderSchema)
from flowplan_providers.registry.client import (RegistryAccess, RegistryError, Retry,
                                                access_from_block, block_problems)
from flowplan_providers.registry.provider import RegistryProvider
from inline import apply_all, close_providers, inline_config, plan_of, render_problems
from registry import registry_problem, start_registry

PASSWORD = "T0ken-Pa55word"
needs_registry = pytest.mark.skipif(bool(registry_problem()), reason=registry_problem() or "")


@pytest.fixture(autouse=True)
def _close_store_connections():
    yield
    close_providers()


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    if registry_problem():
        pytest.skip(registry_problem())
    with start_registry(tmp_path_factory.mktemp("registry"), users={"ci": PASSWORD},
                        auth="token") as registry:
        yield registry


def config(url: str, password: str = "var.registry_password", extra: str = "") -> str:
    return f"""
        variable "registry_password" {{
          sensitive = true
        }}

        provider "registry" {{
          url      = "{url}"
          username = "ci"
          password = {password}
          insecure = true{extra}
        }}
    """


def quick_provider() -> RegistryProvider:
    provider = RegistryProvider()
    provider.timeout = 2.0
    provider.retry = Retry(attempts=1)
    return provider


def workspace_for(tmp_path, text: str, password: str = PASSWORD):
    return inline_config(tmp_path, text, variables={"registry_password": password},
                         providers={"registry": quick_provider()})


def problems_of(tmp_path, text: str, password: str = PASSWORD) -> tuple[str, list]:
    workspace = workspace_for(tmp_path, text, password)
    with pytest.raises(DiagnosticsError) as caught:
        plan_of(workspace)
    return render_problems(caught.value.diagnostics, workspace.config.texts), \
        list(caught.value.diagnostics)


# -- through plan and apply, against a real registry with token auth -----------------------------

@needs_registry
def test_plan_checks_the_registry_block_though_no_resource_uses_it(tmp_path, token_registry):
    workspace = workspace_for(tmp_path, config(token_registry.url))
    before = len(token_registry.token_service.requests)
    plan = plan_of(workspace)
    assert plan.changes == ()
    asked = token_registry.token_service.requests[before:]
    assert [(r.account, r.status) for r in asked] == [("ci", 200)]


@needs_registry
def test_a_wrong_password_stops_the_plan_at_the_password_line(tmp_path, token_registry):
    rendered, diagnostics = problems_of(tmp_path, config(token_registry.url), "wrong-one")
    assert "The registry refused the credentials" in rendered
    assert "main.hcl:8:" in rendered                      # password = var.registry_password
    assert "wrong-one" not in rendered and PASSWORD not in rendered
    assert all("wrong-one" not in d.detail for d in diagnostics)


@needs_registry
def test_apply_checks_the_registry_too(tmp_path, token_registry):
    workspace = workspace_for(tmp_path, config(token_registry.url) + PIPELINE)
    before = len(token_registry.token_service.requests)
    applied = apply_all(workspace)
    assert applied.result is not None and applied.result.ok
    assert len(token_registry.token_service.requests) - before == 2    # plan, then apply
    workspace = workspace_for(tmp_path, config(token_registry.url) + PIPELINE, "rotated")
    with pytest.raises(DiagnosticsError, match="refused the credentials"):
        apply_all(workspace)


@needs_registry
def test_destroy_and_targeted_plans_leave_the_registry_alone(tmp_path, token_registry):
    workspace = workspace_for(tmp_path, config(token_registry.url) + PIPELINE, "unused")
    before = len(token_registry.token_service.requests)
    plan_of(workspace, destroy=True)
    plan_of(workspace, targets=("pipeline.app",))
    assert len(token_registry.token_service.requests) == before


PIPELINE = """
        pipeline "app" {
          stage "build" {
            task "package" {
              step "echo" {
                type = "command"
                run  = "true"
              }
            }
          }
        }
    """


def test_a_password_written_into_the_config_is_refused_at_its_line(tmp_path):
    rendered, diagnostics = problems_of(
        tmp_path, config("http://127.0.0.1:9", password='"written-in-the-file"'))
    assert "`password` is written into the config" in rendered
    assert "main.hcl:8:" in rendered
    assert all("written-in-the-file" not in d.detail for d in diagnostics)
    assert "Cannot reach" not in rendered                  # refused before any request


def test_an_unreachable_registry_is_reported_at_the_url(tmp_path):
    rendered, _ = problems_of(tmp_path, config("http://127.0.0.1:9"))
    assert "Cannot reach the registry" in rendered and "main.hcl:6:" in rendered


def test_plain_http_without_insecure_is_refused_at_the_url(tmp_path):
    text = config("http://127.0.0.1:9").replace("insecure = true", "insecure = false")
    rendered, _ = problems_of(tmp_path, text)
    assert "Invalid `url`" in rendered and "set `insecure = true`" in rendered


def test_unknown_arguments_are_reported(tmp_path):
    rendered, _ = problems_of(tmp_path, config("http://127.0.0.1:9", extra="\n  token = 1"))
    assert "Unsupported argument `token`" in rendered


def test_a_resource_of_the_registry_provider_is_refused():
    provider = RegistryProvider()
    response = provider.plan(PlanRequest("registry_repository", "app", None, {}))
    assert "no resource type 'registry_repository'" in response.diagnostics[0].summary


def test_without_a_block_configure_checks_nothing():
    provider = RegistryProvider()
    assert provider.configure(ConfigureRequest({}, ".", {})) == []
    assert provider.access is None


# -- the block's rules, offline ------------------------------------------------------------------

@pytest.mark.parametrize("block, attribute, text", [
    ({}, "url", "Missing `url`"),
    ({"url": "registry.example.com/path"}, "url", "no path"),
    ({"url": "https://u:p@registry.example.com"}, "url", "no credentials"),
    ({"url": "https://registry.example.com?x=1"}, "url", "not a registry address"),
    ({"url": "ftp://registry.example.com"}, "url", "not a registry address"),
    ({"url": "https://registry.example.com:port"}, "url", "not a registry address"),
    ({"url": "http://127.0.0.1:5000"}, "url", "set `insecure = true`"),
    ({"url": "https://r.example.com", "insecure": "yes"}, "insecure", "true or false"),
    ({"url": "https://r.example.com", "username": "ci"}, "password", "go together"),
    ({"url": "https://r.example.com", "password": "x"}, "username", "go together"),
    ({"url": "https://r.example.com", "username": "a:b", "password": "x"}, "username", "':'"),
    ({"url": "https://r.example.com", "username": "ci", "password": "a\nb"}, "password",
     "one line"),
    ({"url": "https://r.example.com", "username": "ci", "password": {"$unknown": "x"}},
     "password", "known before apply"),
])
def test_block_problems_name_the_attribute_at_fault(block, attribute, text):
    problems = block_problems(block)
    assert any(a == attribute and text in summary + detail for a, summary, detail in problems), \
        problems
    with pytest.raises(RegistryError) as caught:
        access_from_block(block)
    assert caught.value.reason == "config"


def test_access_from_block_normalises_the_url_and_keeps_the_password_hidden():
    access = access_from_block({"url": "https://Registry.Example.com/", "username": "ci",
                                "password": PASSWORD})
    assert access == RegistryAccess("https://Registry.Example.com", "ci", PASSWORD, False)
    assert access.host == "registry.example.com"
    assert PASSWORD not in repr(access)
    bare = access_from_block({"url": "127.0.0.1:5000", "insecure": True})
    assert bare.url == "http://127.0.0.1:5000" and bare.host == "127.0.0.1:5000"
    assert access_from_block({"url": "registry.example.com"}).url == \
        "https://registry.example.com"


# -- the planner: providers with a block and no resource types are configured ---------------------

class BlockOnly:
    """A provider without resource types that records its configure calls."""

    name = "checked"

    def __init__(self) -> None:
        self.configured: list[dict] = []

    def schema(self) -> ProviderSchema:
        return ProviderSchema(name="checked", resources=(), reads=("checked",))

    def configure(self, request: ConfigureRequest) -> list[ProviderDiagnostic]:
        self.configured.append(dict(request.blocks["checked"].config))
        return []


def test_planner_configures_a_provider_that_has_a_block_and_no_resource_types(tmp_path):
    provider = BlockOnly()
    workspace = inline_config(tmp_path, 'provider "checked" {\n  level = 3\n}\n',
                              providers={"checked": provider})
    plan_of(workspace)
    assert provider.configured == [{"level": 3}]
    plan_of(workspace, destroy=True)
    assert len(provider.configured) == 1


def test_planner_leaves_a_provider_without_a_block_alone(tmp_path):
    provider = BlockOnly()
    workspace = inline_config(tmp_path, 'variable "x" {\n  default = 1\n}\n',
                              providers={"checked": provider})
    plan_of(workspace)
    assert provider.configured == []

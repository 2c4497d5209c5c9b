"""Resource types come from the installed providers' schemas: their block models, computed and
sensitive attributes and default providers; a block whose provider is missing gets one error."""

from __future__ import annotations

from typing import Annotated, Optional

from pydantic import Field

from flowplan.config.schema import BlockModel, Nested
from flowplan.providers import (PLUGIN_ENVIRONMENT, ProviderRegistry, ProviderSchema,
                                ResourceSchema)
from flowplan.values import KNOWN_AFTER_APPLY, Sensitive
from providers.flowplan import FlowplanProvider


class Target(BlockModel):
    address: str
    weight: int = Field(1, ge=1)


class DnsRecord(BlockModel):
    zone: str
    ttl: int = 600
    comment: Optional[str] = None
    api_token: Optional[str] = None
    target: Annotated[dict[str, Target], Nested()] = {}


class DnsProvider:
    """A provider package's own resource type, declared without touching core."""

    name = "dns"

    def schema(self) -> ProviderSchema:
        return ProviderSchema(name="dns", resources=(
            ResourceSchema(type="dns_record", model=DnsRecord, computed=("id", "fqdn"),
                           force_new=("zone",), sensitive=("api_token",)),))


class OtherDnsProvider(DnsProvider):
    name = "otherdns"


def registry(**classes: type) -> ProviderRegistry:
    return ProviderRegistry({"flowplan": FlowplanProvider, **classes}, environ={})


def errors(config) -> list[tuple[str, str]]:
    return [(d.summary, str(d.range)) for d in config.diagnostics if d.severity.value == "error"]


def test_a_provider_declares_a_resource_type_with_its_own_block_model(load):
    config = load("""\
        dns_record "www" {
          zone = "example.com"
          target "a" {
            address = "127.0.0.5"
          }
        }
    """, registry=registry(dns=DnsProvider))
    assert list(config.diagnostics) == []
    record = config.resources["dns_record.www"]
    assert record.provider == "dns"
    assert record.attributes == {"zone": "example.com", "ttl": 600, "comment": None,
                                 "api_token": None,
                                 "target": {"a": {"address": "127.0.0.5", "weight": 1}}}


def test_mistakes_in_a_provider_declared_block_are_located(load):
    config = load("""\
        dns_record "www" {
          ttl  = "soon"
          zonee = "example.com"
          target "a" {
            address = "127.0.0.5"
            weight  = 0
          }
        }
    """, registry=registry(dns=DnsProvider))
    assert errors(config) == [("Invalid value", "main.hcl:2:10"),
                              ("Unsupported argument", "main.hcl:3:3"),
                              ("Invalid value", "main.hcl:6:15"),
                              ("Missing required argument", "main.hcl:1:1")]
    assert 'Did you mean "zone"?' in config.diagnostics.items[1].detail


def test_computed_attributes_of_a_provider_type_are_known_after_apply(load):
    config = load("""\
        dns_record "www" {
          zone = "example.com"
        }
        locals {
          fqdn = dns_record.www.fqdn
          oops = dns_record.www.fqnd
        }
    """, registry=registry(dns=DnsProvider))
    assert config.locals["fqdn"] == KNOWN_AFTER_APPLY
    [problem] = config.diagnostics
    assert problem.summary == "Unsupported attribute"
    assert 'Did you mean "fqdn"?' in problem.detail
    assert str(problem.range) == "main.hcl:6:10"


def test_an_attribute_the_provider_calls_sensitive_is_kept_sensitive(load):
    config = load("""\
        dns_record "www" {
          zone      = "example.com"
          api_token = "hush"
        }
    """, registry=registry(dns=DnsProvider))
    assert list(config.diagnostics) == []
    assert config.resources["dns_record.www"].attributes["api_token"] == Sensitive("hush")
    assert config.resources["dns_record.www"].placeholders


def test_a_usual_type_whose_provider_is_not_installed_gets_one_located_error(load):
    config = load("""\
        acr_namespace "team" {
          instance_id = "cri-1"
          name        = "team"
        }

        acr_repository "app" {
          namespace = acr_namespace.team.name
          name      = "app"
          colour    = 1
        }
    """, registry=registry())
    assert [(d.summary, str(d.range), d.address) for d in config.diagnostics] == [
        ('Provider "alicloud" is not installed', "main.hcl:1:1", "acr_namespace.team"),
        ('Provider "alicloud" is not installed', "main.hcl:6:1", "acr_repository.app"),
    ]
    assert "Installed providers: flowplan." in config.diagnostics.items[0].detail
    assert config.resources == {}


def test_a_type_no_provider_serves_is_an_unsupported_block_type(load):
    config = load('dns_recrd "www" {\n  zone = "example.com"\n}\n',
                  registry=registry(dns=DnsProvider))
    [problem] = config.diagnostics
    assert problem.summary == "Unsupported block type"
    assert 'Did you mean "dns_record"?' in problem.detail
    assert problem.detail.endswith("Top-level blocks: flowplan, provider, variable, locals, "
                                   "source, pipeline, schedule, deployment_group, dns_record.")


def test_core_alone_serves_no_resource_type(load):
    config = load('pipeline "app" {\n}\n', registry=ProviderRegistry({}, environ={}))
    assert errors(config) == [('Provider "flowplan" is not installed', "main.hcl:1:1")]


def test_provider_meta_argument_naming_a_provider_without_the_type_is_located(load):
    config = load("""\
        dns_record "www" {
          provider = "flowplan"
          zone     = "example.com"
        }
    """, registry=registry(dns=DnsProvider))
    [problem] = config.diagnostics
    assert problem.summary == 'Provider "flowplan" has no resource type "dns_record"'
    assert str(problem.range) == "main.hcl:2:14"


def test_a_type_two_providers_serve_needs_a_provider_meta_argument(load):
    config = load("""\
        dns_record "www" {
          zone = "example.com"
        }
        dns_record "api" {
          provider = "otherdns"
          zone     = "example.com"
        }
    """, registry=registry(dns=DnsProvider, otherdns=OtherDnsProvider))
    assert errors(config) == [("Ambiguous provider", "main.hcl:1:1")]
    assert 'provider = "NAME"' in config.diagnostics.items[0].detail
    assert config.resources["dns_record.api"].provider == "otherdns"


def test_a_provider_plugin_that_fails_to_load_is_a_warning_and_its_blocks_errors(load):
    broken = ProviderRegistry({"flowplan": FlowplanProvider},
                              environ={PLUGIN_ENVIRONMENT: "alicloud=no_such_module:Provider"})
    config = load("""\
        pipeline "app" {
        }
        acr_namespace "team" {
          instance_id = "cri-1"
          name        = "team"
        }
    """, registry=broken)
    assert [(d.severity.value, d.summary, str(d.range)) for d in config.diagnostics.sorted()] == [
        ("error", 'Provider "alicloud" failed to load', "main.hcl:3:1"),
        ("warning", 'Provider plugin "alicloud" failed to load', "None"),
    ]
    assert "ModuleNotFoundError" in config.diagnostics.sorted()[1].detail
    assert "pipeline.app" in config.resources

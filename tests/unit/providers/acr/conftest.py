"""The alicloud provider's Container Registry tests: the Alibaba Cloud emulator (with an
Enterprise Edition instance) on a free loopback port, the real provider with no waiting between
retries, and inline HCL pointing it at the emulator, for either edition."""

from __future__ import annotations

import pytest

import aliyun_fixtures as fx
from flowplan_providers.alicloud import AlicloudProvider
from flowplan_providers.alicloud.ecs import Backoff
from inline import inline_config

INSTANCE = "cri-emulated01"
DOMAIN = "cri-emulated01-registry.cn-hangzhou.cr.aliyuncs.com"
TOKEN = "acr-temporary-token-must-not-leak"
EDITIONS = pytest.mark.parametrize("instance", [None, INSTANCE], ids=["personal", "enterprise"])


@pytest.fixture
def aliyun():
    with fx.registry_emulator(instance_id=INSTANCE, domain=DOMAIN, password=TOKEN) as emulator:
        yield emulator


@pytest.fixture
def provider():
    provider = AlicloudProvider()
    provider.backoff = Backoff(attempts=3, sleep=lambda seconds: None)
    return provider


def config(endpoint: str, instance: str | None, *, name: str = "app", namespace: str = "team",
           repository: str = "", with_namespace: bool = True) -> str:
    """A provider block at the emulator, the namespace `namespace` (unless `with_namespace` is
    false) and acr_repository.app named `name` with the `repository` lines added."""
    instance_line = f'instance_id = "{instance}"' if instance else ""
    parts = [fx.provider_block(endpoint)]
    if with_namespace:
        parts.append(f"""
acr_namespace "team" {{
  name = "{namespace}"
  {instance_line}
}}
""")
    space = "acr_namespace.team.name" if with_namespace else f'"{namespace}"'
    parts.append(f"""
acr_repository "app" {{
  namespace = {space}
  name      = "{name}"
  {instance_line}
  {repository}
}}
""")
    return "\n".join(parts)


def load(directory, aliyun, provider, instance, secret: str = fx.SECRET_KEY, **options):
    return inline_config(directory, config(aliyun.endpoint, instance, **options),
                         fx.keys(secret), providers={"alicloud": provider})

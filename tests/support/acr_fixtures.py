"""Shared pieces of the Container Registry tests (tests/unit/providers/acr): the Enterprise
instance and registry host the emulator reports, the token it hands out, both editions as a
parameter, and inline HCL pointing the real alicloud provider at the emulator."""

from __future__ import annotations

import pytest

import aliyun_fixtures as fx
from inline import inline_config

INSTANCE = "cri-emulated01"
DOMAIN = "cri-emulated01-registry.cn-hangzhou.cr.aliyuncs.com"
TOKEN = "acr-temporary-token-must-not-leak"
EDITIONS = pytest.mark.parametrize("instance", [None, INSTANCE], ids=["personal", "enterprise"])


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

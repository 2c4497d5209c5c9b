"""The `provider "alicloud" {}` block: region, credentials and, for tests and the emulator, an
endpoint.

    provider "alicloud" {
      region     = "cn-hangzhou"
      access_key = var.alicloud_access_key      # a variable with sensitive = true
      secret_key = var.alicloud_secret_key
      # endpoint = "http://127.0.0.1:8500"      # every API call goes there (the emulator)
    }

The keys must not be written into the config: a key given as constant text is refused at its line
(a sensitive variable, set with FP_VAR_..., or `env("...")` reads it from outside the files).
Missing keys are only a problem once something needs them (an `ecs {}` block, an `acr_*`
resource), which says so. The same block configures the `alicloud` provider (Container Registry)
and the flowplan provider's ECS deployment groups.
Standard library only: reading settings never imports the SDK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flowplan.providers import ProviderBlock, ProviderDiagnostic

BLOCK = "alicloud"
SECRETS = ("access_key", "secret_key")
_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+\Z")


@dataclass(frozen=True)
class AlicloudSettings:
    region: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    endpoint: str | None = None                 # None: the SDK's endpoint for the region, https

    def __repr__(self) -> str:                  # never a key, even by accident
        return f"AlicloudSettings(region={self.region!r}, endpoint={self.endpoint!r})"

    def missing(self) -> list[str]:
        """The attributes that must be set before the ECS API can be called."""
        return [name for name in SECRETS if not getattr(self, name)]


def read_settings(block: ProviderBlock | None
                  ) -> tuple[AlicloudSettings | None, list[ProviderDiagnostic]]:
    """The settings of a `provider "alicloud"` block (None when the config has none) and what is
    wrong with it, each diagnostic located at its attribute of that block."""
    if block is None:
        return None, []
    config = block.config
    problems: list[ProviderDiagnostic] = []

    def text(name: str) -> str | None:
        value = config.get(name)
        if value is None or (isinstance(value, str) and value):
            return value
        if isinstance(value, dict) and "$unknown" in value:
            problems.append(_problem(f"`{name}` must be known before apply", name,
                                     f"`{name}` of the alicloud provider cannot depend on what "
                                     "apply computes."))
        else:
            problems.append(_problem(f"Invalid `{name}`", name,
                                     f"`{name}` must be a non-empty string."))
        return None

    region, access_key, secret_key, endpoint = (text(n) for n in ("region", "access_key",
                                                                 "secret_key", "endpoint"))
    for name in SECRETS:
        if name in block.literal:
            problems.append(_problem(
                f"`{name}` is written into the config", name,
                f"Credentials must not be written into the config files. Declare a variable "
                f'with sensitive = true (variable "alicloud_{name}" {{ sensitive = true }}), '
                f"set it with FP_VAR_alicloud_{name}, and write `{name} = "
                f'var.alicloud_{name}`, or read it with env("...").'))
    if region is not None and not _REGION.match(region):
        problems.append(_problem("Invalid `region`", "region",
                                 f"{region!r} is not a region id such as \"cn-hangzhou\"."))
    if endpoint is not None:
        problem = _endpoint_problem(endpoint)
        if problem:
            problems.append(_problem("Invalid `endpoint`", "endpoint", problem))
    if problems:
        return None, problems
    return AlicloudSettings(region, access_key, secret_key, endpoint), []


def _endpoint_problem(endpoint: str) -> str | None:
    split = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    if split.scheme not in ("http", "https") or not split.hostname or \
            split.path not in ("", "/") or split.query or split.username:
        return (f"{endpoint!r} is not an endpoint: give a host name (\"ecs.cn-hangzhou."
                "aliyuncs.com\", reached over https) or a URL (\"http://127.0.0.1:8500\").")
    return None


def _problem(summary: str, attribute: str, detail: str) -> ProviderDiagnostic:
    return ProviderDiagnostic(summary, detail=detail, attribute=attribute, block=BLOCK)


def describe(settings: AlicloudSettings, region: str) -> dict[str, Any]:
    """What may be shown of the settings in a message: never a key."""
    return {"region": region, "endpoint": settings.endpoint or f"ecs.{region}.aliyuncs.com"}

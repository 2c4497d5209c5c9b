"""Shared pieces of the Alibaba Cloud tests: a running ECS emulator with a few instances, the
credentials it accepts, and inline HCL pointing a `provider "alicloud"` block at it."""

from __future__ import annotations

import textwrap

from tests.emulators.aliyun import EcsEmulator, Instance

ACCESS_KEY = "LTAI-test-key-id"
SECRET_KEY = "test-secret-Zq81-must-not-leak"
REGION = "cn-hangzhou"


def instances() -> list[Instance]:
    return [Instance("i-web1", REGION, "10.0.0.5", {"app": "web"}),
            Instance("i-web2", REGION, "10.0.0.6", {"app": "web"}),
            Instance("i-db1", REGION, "10.0.0.9", {"app": "db"}),
            Instance("i-far", "cn-shanghai", "10.1.0.5", {"app": "web"})]


def emulator(root=None) -> EcsEmulator:
    return EcsEmulator({ACCESS_KEY: SECRET_KEY}, instances(), root=root)


def provider_block(endpoint: str, *, access_key: str = "var.alicloud_access_key",
                   secret_key: str = "var.alicloud_secret_key") -> str:
    return textwrap.dedent(f"""\
        variable "alicloud_access_key" {{
          sensitive = true
        }}
        variable "alicloud_secret_key" {{
          sensitive = true
        }}
        provider "alicloud" {{
          region     = "{REGION}"
          access_key = {access_key}
          secret_key = {secret_key}
          endpoint   = "{endpoint}"
        }}
        """)


def keys(secret: str = SECRET_KEY) -> dict[str, str]:
    return {"alicloud_access_key": ACCESS_KEY, "alicloud_secret_key": secret}

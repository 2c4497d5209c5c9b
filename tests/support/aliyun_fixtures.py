"""Shared pieces of the Alibaba Cloud tests: a running ECS emulator with a few instances, one
answering Container Registry (`registry_emulator`), the credentials they accept, and inline HCL
pointing a `provider "alicloud"` block at them."""

from __future__ import annotations

import textwrap

from tests.emulators.aliyun import ContainerRegistry, EcsEmulator, Instance, Login

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


def registry_emulator(*, domain: str | None = None, username: str = "cr_temp_user",
                      password: str = "acr-temporary-token-must-not-leak",
                      instance_id: str | None = None) -> EcsEmulator:
    """An emulator answering Container Registry with no ECS instances. Personal Edition reports
    `domain` as its registry host, and so does the Enterprise instance `instance_id` if given.
    GetAuthorizationToken hands out `username`/`password` (pair them with a docker-registry
    whose htpasswd has them, and a push to the "ACR" repository goes there for real)."""
    registry = ContainerRegistry(region=REGION, personal_domain=domain or "",
                                 login=Login(username, password))
    if instance_id is not None:
        registry.add_instance(instance_id, domain)
    return EcsEmulator({ACCESS_KEY: SECRET_KEY}, registry=registry)

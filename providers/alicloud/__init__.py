"""Alibaba Cloud: the `alicloud` provider, with Container Registry's `acr_namespace` and
`acr_repository` (`provider`, `schema`, over aliyun-python-sdk-cr in `cr`, which also gives
image_build its registry logins: `cr.registry_login`); the `provider "alicloud" {}` settings
(`settings`); an ECS client on aliyun-python-sdk-ecs with clean errors and bounded backoff (`ecs`);
the ECS instances of a `deployment_group` with an `ecs {}` block (`deployment_groups`, used by
the flowplan provider) and the Cloud Assistant transport that deploys reach them through
(`cloud_assistant`).

Installed as flowplan_providers.alicloud, found through the `alicloud` entry point of
`flowplan.providers`. The flowplan provider imports `settings` when the config has a
`provider "alicloud"` block; the modules that import an SDK are imported only when a call is made.
"""

from flowplan_providers.alicloud.provider import AlicloudProvider

__all__ = ["AlicloudProvider"]

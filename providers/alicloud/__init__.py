"""Alibaba Cloud: the `provider "alicloud" {}` settings (`settings`), an ECS client on
aliyun-python-sdk-ecs with clean errors and bounded backoff (`ecs`), the ECS instances of a
`deployment_group` with an `ecs {}` block (`deployment_groups`, used by the flowplan provider) and
the Cloud Assistant transport that deploys reach them through (`cloud_assistant`).

Installed as flowplan_providers.alicloud. Nothing here is a provider of its own yet: the flowplan
provider imports `settings` when the config has a `provider "alicloud"` block, and the modules that
import the SDK only when a deployment group has an `ecs {}` block. The `acr_namespace` and
`acr_repository` resource types are left to a later issue.
"""

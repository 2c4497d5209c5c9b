"""The alicloud provider's Container Registry tests: the Alibaba Cloud emulator (with an
Enterprise Edition instance) on a free loopback port, and the real provider with no waiting
between retries. The constants and HCL are in tests/support/acr_fixtures.py."""

from __future__ import annotations

import pytest

import aliyun_fixtures as fx
from acr_fixtures import DOMAIN, INSTANCE, TOKEN
from flowplan_providers.alicloud import AlicloudProvider
from flowplan_providers.alicloud.ecs import Backoff


@pytest.fixture
def aliyun():
    with fx.registry_emulator(instance_id=INSTANCE, domain=DOMAIN, password=TOKEN) as emulator:
        yield emulator


@pytest.fixture
def provider():
    provider = AlicloudProvider()
    provider.backoff = Backoff(attempts=3, sleep=lambda seconds: None)
    return provider

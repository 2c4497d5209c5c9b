"""The github provider's tests: the GitHub emulator on a free loopback port, and config
directories whose `provider "github"` block points the real provider at it."""

from __future__ import annotations

import pytest

from flowplan_providers.github import GithubProvider
from flowplan_providers.github.client import Backoff
from tests.emulators.github import GithubEmulator

TOKEN = "ghp_EmulatedToken0123456789abcdefSECRET"
SECRET = "whsec-github-3f9a-never-in-state"


@pytest.fixture
def github():
    with GithubEmulator(TOKEN, ("octo-org/app", "octo-org/other")) as emulator:
        yield emulator


@pytest.fixture
def provider():
    provider = GithubProvider()
    provider.backoff = Backoff(attempts=3, sleep=lambda seconds: None)
    yield provider
    provider.close()

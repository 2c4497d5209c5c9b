"""The in-process plan/apply tests share tests/support/inline.py; this closes the store
connections its flowplan providers opened once each test is done."""

from __future__ import annotations

import pytest

from inline import close_providers


@pytest.fixture(autouse=True)
def _close_store_connections():
    yield
    close_providers()

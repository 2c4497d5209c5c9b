"""The store's tests run against both databases it supports: `store_url` is parametrized over
SQLite (a file in the test's tmp_path) and PostgreSQL (a fresh database of one server per test
session and xdist worker, tests/support/postgres.py). PostgreSQL is skipped, with the reason,
only where no server can start here.
"""

from __future__ import annotations

import uuid

import pytest

from postgres import postgres_for_tests


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for this test process (an xdist worker has its own).

    Its directory is not under pytest's tmp_path: every pytest run of the same user sets
    /tmp/pytest-of-USER back to 0700, which would lock the postgres user out of its socket."""
    with postgres_for_tests("flowplan-store-pg-") as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store_url(request, tmp_path):
    """Makes the URL of another empty database of the test's backend at each call."""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        return lambda: server.create_database(f"store_{uuid.uuid4().hex[:16]}")
    return lambda: f"sqlite:///{tmp_path / uuid.uuid4().hex[:8]}.db"


@pytest.fixture
def store_url(new_store_url) -> str:
    return new_store_url()


@pytest.fixture
def backend(store_url) -> str:
    """Which database `store_url` is: "sqlite" or "postgresql"."""
    return store_url.split(":", 1)[0].split("+", 1)[0]


@pytest.fixture
def teams(store_url):
    """The store opened for team `default` and for team `blue`."""
    from flowplan.store import Store

    with Store.open(store_url) as default, Store.open(store_url, team="blue") as blue:
        yield default, blue

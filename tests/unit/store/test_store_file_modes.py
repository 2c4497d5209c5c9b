"""The SQLite store is flowplan's user's alone: whoever can open it can read run history and
approve or cancel runs. Its file and companions are 0600; a directory made for it is 0711."""

from __future__ import annotations

import os
import stat

from flowplan.store import Store


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_store_and_its_companions_are_readable_by_flowplans_user_only(tmp_path):
    old = os.umask(0o022)
    try:
        with Store.open("sqlite:///.flowplan/flowplan.db", base_dir=tmp_path) as store:
            store.register_pipeline("app", {}, "abc")
            directory = tmp_path / ".flowplan"
            files = [p for p in directory.iterdir() if p.name.startswith("flowplan.db")]
            assert {p.name for p in files} >= {"flowplan.db", "flowplan.db-wal",
                                               "flowplan.db-shm"}
            assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        os.umask(old)
    assert mode(directory) == 0o711


def test_an_existing_store_open_to_others_is_closed_when_opened(tmp_path):
    path = tmp_path / "store.db"
    with Store.open(f"sqlite:///{path}") as store:
        store.register_pipeline("app", {}, "abc")
    for name in ("store.db", "store.db-wal", "store.db-shm"):
        if (tmp_path / name).exists():
            os.chmod(tmp_path / name, 0o644)
    with Store.open(f"sqlite:///{path}") as store:
        assert store.get_pipeline("app") is not None
        assert mode(path) == 0o600
        for name in ("store.db-wal", "store.db-shm"):
            assert not (tmp_path / name).exists() or mode(tmp_path / name) == 0o600
    assert mode(tmp_path) != 0o711      # a directory flowplan did not make keeps its mode

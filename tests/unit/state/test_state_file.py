"""The state model and the local state file: read, atomic write, backup, serial, lineage, upgrades."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from flowplan.state import (
    MIGRATIONS,
    STATE_VERSION,
    LocalStateBackend,
    ResourceState,
    State,
    StateError,
    upgrade,
)
from flowplan.state import model as state_model
from flowplan.state.local import pretty_json

REPO_ROOT = Path(__file__).resolve().parents[3]


def resource(address: str, **attributes) -> ResourceState:
    type_, name = address.split(".", 1)
    return ResourceState(address, type_, name, "flowplan", dict(attributes), [])


def big_state(count: int) -> State:
    state = State()
    for i in range(count):
        state.set(ResourceState(
            f"pipeline.p{i}", "pipeline", f"p{i}", "flowplan",
            {"id": f"id-{i}", "name": f"p{i}", "labels": {"team": "a", "ports": [80, 443]},
             "secret": {"$sensitive": "sha256:salt:abcdef"}, "url": {"$unknown": "known after apply"},
             "replicas": i, "ratio": 0.5, "enabled": True, "note": None},
            [f"pipeline.p{i - 1}"] if i else []))
    return state


# -- model ----------------------------------------------------------------------------------------

def test_new_state_has_fresh_lineage_serial_zero_and_current_version():
    first, second = State(), State()
    assert first.serial == 0 and first.version == STATE_VERSION and len(first) == 0
    assert str(uuid.UUID(first.lineage)) == first.lineage
    assert first.lineage != second.lineage


def test_set_replaces_in_place_and_inserts_at_the_end():
    state = State()
    state.set(resource("a.one", v=1))
    state.set(resource("a.two", v=2))
    state.set(resource("a.three", v=3))
    state.set(resource("a.two", v=22))
    assert state.addresses() == ["a.one", "a.two", "a.three"]
    assert state.get("a.two").attributes == {"v": 22}
    assert state.remove("a.one").attributes == {"v": 1}
    assert state.remove("a.one") is None
    assert state.get("a.one") is None
    assert state.addresses() == ["a.two", "a.three"]


def test_round_trip_keeps_markers_as_opaque_data():
    state = State()
    state.set(ResourceState("webhook.push", "webhook", "push", "github",
                            {"secret": {"$sensitive": "sha256:s:h"}, "id": {"$unknown": "known after apply"}},
                            ["pipeline.java_ecs"]))
    again = State.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert again.get("webhook.push").attributes["secret"] == {"$sensitive": "sha256:s:h"}


def test_state_with_duplicate_addresses_is_refused():
    raw = State().to_dict()
    raw["resources"] = [resource("a.x").to_dict(), resource("a.x").to_dict()]
    with pytest.raises(StateError, match="a.x twice"):
        State.from_dict(raw)


def test_five_thousand_resources_round_trip_through_the_fast_encoder():
    # How fast it is, bench/plan_scale.py measures; here, that the fast path encodes the same.
    state = big_state(5000)
    encoded = LocalStateBackend("unused.json")._encode(state)
    raw = state.to_dict()
    text = pretty_json(raw)
    loaded = State.from_dict(json.loads(encoded))
    assert loaded == state
    assert text == json.dumps(raw, indent=2, ensure_ascii=False)


def test_state_text_is_reused_for_unchanged_resources_and_stays_identical(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    state = big_state(50)
    first = backend._encode(state)
    assert first.decode() == pretty_json(state.to_dict()) + "\n"
    state.set(ResourceState("pipeline.p7", "pipeline", "p7", "flowplan", {"changed": True}, []))
    assert state.remove("pipeline.p3") is not None
    second = backend._encode(state)
    assert second.decode() == pretty_json(state.to_dict()) + "\n"
    assert second != first


def test_pretty_json_matches_the_standard_indented_encoder():
    for value in [1, "x", None, [], {}, [[[]]], {"a": {"b": {}}}, (1, 2),
                  {1: 2, None: [1.5, -0.0, 1e300], True: "\u2028 \"quoted\" \\ é\n"}]:
        assert pretty_json(value) == json.dumps(value, indent=2, ensure_ascii=False)
    with pytest.raises(TypeError):
        pretty_json({"a": object()})


# -- local file -----------------------------------------------------------------------------------

def test_missing_file_reads_as_new_empty_state_without_writing_it(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    state = backend.read()
    assert len(state) == 0 and state.serial == 0
    assert list(tmp_path.iterdir()) == []


def test_write_is_pretty_json_that_reads_back(tmp_path):
    backend = LocalStateBackend(tmp_path / ".flowplan" / "state.json")
    state = State()
    state.set(resource("acr_namespace.team", name="team"))
    backend.write(state)
    text = backend.path.read_text()
    assert text.startswith('{\n  "version": 1,\n  "serial": 1,')
    assert backend.read() == state


def test_serial_increments_on_every_write(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    state = backend.read()
    for expected in (1, 2, 3):
        backend.write(state)
        assert state.serial == expected
        assert backend.read().serial == expected


def test_lineage_is_set_once_and_kept_across_writes(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    state = backend.read()
    lineage = state.lineage
    backend.write(state)
    reread = backend.read()
    reread.set(resource("a.x"))
    backend.write(reread)
    assert backend.read().lineage == lineage
    assert json.loads(backend.backup_path.read_text())["lineage"] == lineage


def test_atomic_write_keeps_the_previous_file_as_backup_and_leaves_no_temp_files(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    state = backend.read()
    state.set(resource("a.first"))
    backend.write(state)
    assert not backend.backup_path.exists()          # nothing to back up on the first write
    first_file = backend.path.read_bytes()
    state.set(resource("a.second"))
    backend.write(state)
    assert backend.backup_path.read_bytes() == first_file
    assert backend.read().addresses() == ["a.first", "a.second"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.backup"]


def test_failed_write_leaves_file_and_serial_unchanged(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    state = backend.read()
    backend.write(state)
    before = backend.path.read_bytes()
    state.set(resource("a.bad", value=object()))     # not JSON
    with pytest.raises(TypeError):
        backend.write(state)
    assert state.serial == 1
    assert backend.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


WRITE_AND_HANG = textwrap.dedent("""
    import os, sys, time
    from flowplan.state import LocalStateBackend, ResourceState

    backend = LocalStateBackend(sys.argv[1])
    state = backend.read()
    state.set(ResourceState("a.second", "a", "second", "flowplan", {}, []))

    replace = os.replace

    def hang(source, target):         # the new state's temp file is written; die before its rename
        if str(target) != sys.argv[1]:
            return replace(source, target)
        print(source, flush=True)
        time.sleep(60)

    os.replace = hang
    backend.write(state)
""")


def test_temp_file_of_a_writer_killed_mid_write_is_removed_by_the_next_writer(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    state = backend.read()
    state.set(resource("a.first"))
    backend.write(state)
    child = subprocess.Popen([sys.executable, "-c", WRITE_AND_HANG, str(backend.path)],
                             stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        temp = Path(child.stdout.readline().strip())
        assert temp.parent == tmp_path and temp.exists()
        assert temp.name.startswith(f".state.json.{child.pid}.")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
    assert temp.exists(), "the killed writer's temp file should be left behind"

    next_writer = LocalStateBackend(backend.path)
    state = next_writer.read()
    state.set(resource("a.third"))
    next_writer.write(state)
    assert not temp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.backup"]
    assert next_writer.read().addresses() == ["a.first", "a.third"]


def test_next_writer_keeps_temp_files_of_running_writers_and_of_other_files(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait(timeout=10)
    try:
        names = {
            f".state.json.{finished.pid}.k2j3h4g5.tmp": "removed",          # writer gone
            f".state.json.backup.{finished.pid}.a8s7d6f5.tmp": "removed",   # backup's, writer gone
            ".state.json.q1w2e3r4.tmp": "removed",              # older flowplan's, without a pid
            f".state.json.{sleeper.pid}.z9x8c7v6.tmp": "kept",  # a writer still running
            f".other.json.{finished.pid}.m1n2b3v4.tmp": "kept",  # another state's
            "notes.tmp": "kept",
        }
        for name in names:
            (tmp_path / name).write_text("{")
        state = backend.read()
        backend.write(state)
        left = {p.name for p in tmp_path.iterdir()}
        for name, fate in names.items():
            assert (name in left) == (fate == "kept"), name
    finally:
        sleeper.kill()
        sleeper.wait()


def test_corrupt_json_is_an_error_naming_the_file_and_the_backup(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    backend.path.write_text('{"version": 1, "serial": 3, "lin')
    with pytest.raises(StateError) as caught:
        backend.read()
    message = str(caught.value)
    assert str(backend.path) in message
    assert "state.json.backup" in message


def test_state_from_a_newer_flowplan_is_refused(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    raw = State().to_dict()
    raw["version"] = STATE_VERSION + 1
    backend.path.write_text(json.dumps(raw))
    with pytest.raises(StateError, match=f"version {STATE_VERSION + 1}.*newer flowplan"):
        backend.read()


def test_upgrade_applies_registered_migrations_in_order(tmp_path, monkeypatch):
    def from_version_0(raw: dict) -> dict:
        # version 0 (fake) called the list "items" and had no provider per resource
        resources = [{**item, "provider": item["type"].split("_", 1)[0]} for item in raw["items"]]
        return {"version": 1, "serial": raw["serial"], "lineage": raw["lineage"],
                "resources": resources}

    monkeypatch.setitem(MIGRATIONS, 0, from_version_0)
    old = {"version": 0, "serial": 7, "lineage": "l-1",
           "items": [{"address": "acr_namespace.team", "type": "acr_namespace", "name": "team",
                      "attributes": {"name": "team"}, "dependencies": []}]}
    assert upgrade(json.loads(json.dumps(old)))["resources"][0]["provider"] == "acr"

    backend = LocalStateBackend(tmp_path / "state.json")
    backend.path.write_text(json.dumps(old))
    state = backend.read()
    assert (state.version, state.serial, state.lineage) == (STATE_VERSION, 7, "l-1")
    assert state.get("acr_namespace.team").provider == "acr"


def test_upgrade_without_a_registered_migration_is_an_error(monkeypatch):
    monkeypatch.setattr(state_model, "MIGRATIONS", {})
    with pytest.raises(StateError, match="no upgrade path for state format version 0"):
        upgrade({"version": 0})


def test_current_version_needs_no_upgrade():
    raw = State().to_dict()
    assert upgrade(raw) is raw

"""engine.import_resource: a real object recorded in the state under a block of the config, with
the state lock held and the serial bumped; the next plan shows only real differences; an address
not in the config, one already managed, a provider's refusal and a held lock write nothing; a
secret a provider hands back never reaches the state in clear."""

from __future__ import annotations

import pytest

from flowplan import engine
from flowplan.diagnostics import DiagnosticsError
from flowplan.state import StateLockedError
from configs import APP_STACK
from inline import actions_of, apply_all, inline_config, mock_of, plan_of

SECRET = "whsec-import-clear-9d1"


def load(directory, providers=None):
    return inline_config(directory, APP_STACK, {"hook_secret": SECRET}, providers=providers)


def problems(raised) -> str:
    return "\n".join(f"{d.summary}: {d.detail}" for d in raised.value.diagnostics)


def test_import_records_the_object_and_the_next_plan_is_clean(tmp_path):
    workspace = load(tmp_path)
    apply_all(workspace)
    recorded = workspace.backend.read().get("pipeline.app")
    engine.remove_from_state(workspace, "pipeline.app")
    serial = workspace.backend.read().serial

    imported = engine.import_resource(workspace, "pipeline.app", "app")
    state = workspace.backend.read()
    assert imported.serial == state.serial == serial + 1
    assert state.get("pipeline.app").attributes == recorded.attributes
    assert state.get("pipeline.app").provider == "flowplan"
    assert not plan_of(workspace).has_changes


def test_a_secret_handed_back_in_clear_is_recorded_as_the_configs_marker(tmp_path):
    workspace = load(tmp_path)
    apply_all(workspace)
    hook_id = workspace.backend.read().get("webhook.push").attributes["id"]
    engine.remove_from_state(workspace, "webhook.push")
    assert mock_of(workspace, "github").objects["webhook.push"]["secret"] == SECRET

    engine.import_resource(workspace, "webhook.push", hook_id)
    text = workspace.backend.path.read_text()
    assert SECRET not in text
    secret = workspace.backend.read().get("webhook.push").attributes["secret"]
    assert secret["$sensitive"].startswith("sha256:")
    assert actions_of(plan_of(workspace))["webhook.push"] == "no-op"


def test_the_provider_gets_the_blocks_config_with_markers(tmp_path):
    workspace = load(tmp_path)
    apply_all(workspace)
    hook_id = workspace.backend.read().get("webhook.push").attributes["id"]
    engine.remove_from_state(workspace, "webhook.push")
    engine.import_resource(workspace, "webhook.push", hook_id)
    [call] = [c for c in mock_of(workspace, "github").calls if c.method == "import"]
    assert call.request.id == hook_id
    assert call.request.config["pipeline"] == "pipeline.app"
    assert SECRET not in repr(call.request.config)


def test_an_address_not_in_the_config_is_refused(tmp_path):
    workspace = load(tmp_path)
    with pytest.raises(DiagnosticsError) as raised:
        engine.import_resource(workspace, "pipeline.nope", "nope")
    assert "pipeline.nope is not in the config" in problems(raised)
    assert "pipeline.app" in problems(raised)
    assert not workspace.backend.path.exists()


def test_an_address_already_in_the_state_is_refused(tmp_path):
    workspace = load(tmp_path)
    apply_all(workspace)
    before = workspace.backend.path.read_text()
    with pytest.raises(DiagnosticsError) as raised:
        engine.import_resource(workspace, "pipeline.app", "app")
    assert "already managed" in problems(raised)
    assert "flowplan state rm pipeline.app" in problems(raised)
    assert workspace.backend.path.read_text() == before


def test_a_providers_refusal_writes_nothing(tmp_path):
    workspace = load(tmp_path)
    apply_all(workspace)
    engine.remove_from_state(workspace, "webhook.push")
    before = workspace.backend.path.read_text()
    with pytest.raises(DiagnosticsError) as raised:
        engine.import_resource(workspace, "webhook.push", "no-such-id")
    assert "No webhook with id 'no-such-id'" in problems(raised)
    assert workspace.backend.path.read_text() == before


@pytest.mark.parametrize("hostile", ["", "   ", "app\n", "a\x1b[2Jb"])
def test_an_id_that_is_not_text_is_refused(tmp_path, hostile):
    workspace = load(tmp_path)
    with pytest.raises(DiagnosticsError) as raised:
        engine.import_resource(workspace, "pipeline.app", hostile)
    assert "Invalid import id" in problems(raised)


def test_a_held_state_lock_stops_the_import(tmp_path):
    workspace = load(tmp_path)
    apply_all(workspace)
    engine.remove_from_state(workspace, "pipeline.app")
    with workspace.backend.lock("someone else"):
        with pytest.raises(StateLockedError):
            engine.import_resource(workspace, "pipeline.app", "app")
    assert "pipeline.app" not in workspace.backend.read()

"""The state in-process: where it lives (the `flowplan {}` block's path) and forgetting a
resource without destroying it (`state rm`), after which the plan proposes to create it."""

from __future__ import annotations

from flowplan import engine
from configs import CUSTOM_STATE_PATH
from inline import apply_all, change_of, inline_config, mock_of, plan_of, render_text

CONFIG = CUSTOM_STATE_PATH + """
    webhook "push" {
      pipeline = pipeline.app
    }

    pipeline "app" {
      stage "build" {
        task "package" {
          step "mvn" {
            type = "command"
            run  = "mvn -B package"
          }
        }
      }
    }
"""


def test_plan_and_apply_use_the_state_path_from_the_flowplan_block(tmp_path):
    workspace = inline_config(tmp_path, CONFIG)
    apply_all(workspace)
    assert (tmp_path / "custom" / "state.json").exists()
    assert not (tmp_path / ".flowplan" / "state.json").exists()
    assert "acr_repository.app" in workspace.backend.read().addresses()
    again = plan_of(inline_config(tmp_path, CONFIG, providers=workspace))
    assert not again.has_changes
    assert "No changes. Your configuration matches the state." in render_text(again)


def test_resource_removed_from_state_is_kept_and_planned_as_a_create(tmp_path):
    workspace = inline_config(tmp_path, CONFIG)
    apply_all(workspace)
    mock = mock_of(workspace)
    mock.clear_calls()
    serial = workspace.backend.read().serial

    assert engine.remove_from_state(workspace, "webhook.push")
    state = workspace.backend.read()
    assert "webhook.push" not in state.addresses()
    assert state.serial == serial + 1
    assert "webhook.push" in mock.objects, "forgetting must not destroy the real object"
    assert mock.calls_to("apply_start") == []
    assert not workspace.backend.lock_path.exists()

    plan = plan_of(workspace)
    assert change_of(plan, "webhook.push").reason == "create because not in state"
    text = render_text(plan)
    assert "  # webhook.push will be created" in text
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in text
    assert not engine.remove_from_state(workspace, "webhook.push")

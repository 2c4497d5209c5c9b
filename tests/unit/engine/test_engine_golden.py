"""Golden renderings of one real plan holding all four actions, made in-process.

After BEFORE is applied, AFTER changes a pipeline step (update), renames the repository (a
force_new attribute: replace), drops the deployment group (delete) and adds a webhook (create).
The same plan is rendered as terminal text, JSON and Markdown, as `flowplan plan`, `plan --json`
and `plan --markdown` print them, and compared with tests/golden/engine_plan_all_actions.{txt,
json,md} after lineage, timestamps and hashes are normalised. Regenerate with
FLOWPLAN_UPDATE_GOLDEN=1 and read the diff.
"""

from __future__ import annotations

import json

import pytest

from cli_workspace import check_golden, normalise_plan_text
from inline import (MockProvider, actions_of, apply_all, inline_config, plan_of, render_json,
                    render_markdown, render_text)

SECRET = "golden-hook-secret-31337"

BEFORE = """
    variable "hook_secret" {
      type      = string
      sensitive = true
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

    deployment_group "old" {
      environment = "old"
      host "web1" {
        connection = "local"
        labels     = { rack = "r9" }
      }
    }

    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app"
    }
"""

AFTER = """
    variable "hook_secret" {
      type      = string
      sensitive = true
    }

    pipeline "app" {
      stage "build" {
        task "package" {
          step "mvn" {
            type = "command"
            run  = "mvn -B package -DskipTests"
          }
        }
      }
    }

    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app-v2"
    }

    webhook "push" {
      pipeline = pipeline.app
      secret   = var.hook_secret
      branches = ["main"]
    }
"""


@pytest.fixture
def all_actions(tmp_path):
    variables = {"hook_secret": SECRET}
    mock = MockProvider()
    apply_all(inline_config(tmp_path, BEFORE, variables, providers=mock))
    return inline_config(tmp_path, AFTER, variables, providers=mock)


def as_printed(text: str) -> str:
    """What the CLI's out() writes: the text, ending with one newline."""
    return text if text.endswith("\n") else text + "\n"


def test_plan_with_all_four_actions_renders_as_golden_text_json_and_markdown(all_actions):
    plan = plan_of(all_actions, refresh=False)
    human = as_printed(render_text(plan))
    document = render_json(plan)
    markdown = as_printed(render_markdown(plan))

    for text in (human, json.dumps(document), markdown):
        assert SECRET not in text
        assert "\x1b[" not in text

    assert actions_of(plan) == {
        "acr_namespace.team": "no-op",
        "acr_repository.app": "replace",
        "deployment_group.old": "delete",
        "pipeline.app": "update",
        "webhook.push": "create",
    }
    actions = {c["address"]: c["change"]["actions"] for c in document["resource_changes"]}
    assert actions["acr_repository.app"] == ["delete", "create"]
    assert document["format_version"]
    assert all(c["action_reason"] for c in document["resource_changes"])
    assert "Plan: 2 to add, 1 to change, 2 to destroy." in human
    assert markdown.startswith("**flowplan plan**: 2 to add, 1 to change, 2 to destroy.")

    assert isinstance(document["state"]["serial"], int)
    document["state"]["serial"] = "<serial>"    # parallel applies may group their writes
    check_golden("engine_plan_all_actions.txt", normalise_plan_text(human))
    check_golden("engine_plan_all_actions.json", normalise_plan_text(
        json.dumps(document, indent=2, sort_keys=True) + "\n"))
    check_golden("engine_plan_all_actions.md", normalise_plan_text(markdown))


def test_refresh_does_not_change_the_rendered_plan(all_actions):
    """Reading the real objects back (clear secret included) must plan the same as the state."""
    refreshed = render_text(plan_of(all_actions))
    not_refreshed = render_text(plan_of(all_actions, refresh=False))
    assert normalise_plan_text(refreshed) == normalise_plan_text(not_refreshed)

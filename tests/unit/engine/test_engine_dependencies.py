"""Dependencies in plan and apply: computed values flowing to dependents, replacements destroying
dependents first, `depends_on`, reference cycles, and independent resources applied in parallel.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from configs import ID_CONFIG, REFERENCE_CYCLE
from in_flight import most_at_once
from inline import (InlineConfigError, MockProvider, apply_all, change_of, destroy_all,
                    inline_config, mock_of, plan_of, render_text, schemas_for)


def test_id_computed_on_apply_reaches_the_dependent(tmp_path):
    mock = MockProvider()
    mock.set_computed("acr_namespace.team", id="ns-from-the-cloud")
    workspace = inline_config(tmp_path, ID_CONFIG, providers=mock)
    planned = change_of(plan_of(workspace), "acr_repository.app").after
    assert planned["instance_id"] == {"$unknown": "known after apply"}

    apply_all(workspace)
    assert mock.objects["acr_repository.app"]["instance_id"] == "ns-from-the-cloud"
    recorded = workspace.backend.read().get("acr_repository.app").attributes
    assert recorded["instance_id"] == "ns-from-the-cloud"
    assert not plan_of(workspace).has_changes


def test_plan_shows_id_of_a_replaced_dependency_as_known_after_apply(tmp_path):
    workspace = inline_config(tmp_path, ID_CONFIG)
    apply_all(workspace)
    mock = mock_of(workspace)
    old_namespace_id = mock.objects["acr_namespace.team"]["id"]
    workspace = inline_config(tmp_path, ID_CONFIG.replace('name        = "team"',
                                                          'name        = "team-v2"'),
                              providers=workspace)

    plan = plan_of(workspace)
    assert change_of(plan, "acr_namespace.team").action.value == "replace"
    assert change_of(plan, "acr_repository.app").reason == \
        "update because namespace, instance_id changed"
    text = render_text(plan)
    assert "  # acr_repository.app will be updated in-place" in text
    assert f'~ instance_id = "{old_namespace_id}" -> (known after apply)' in text

    apply_all(workspace)
    new_namespace_id = mock.objects["acr_namespace.team"]["id"]
    assert new_namespace_id != old_namespace_id
    assert mock.objects["acr_repository.app"]["instance_id"] == new_namespace_id
    assert not plan_of(workspace).has_changes


CONFIG = """
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

    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app"
    }

    webhook "push" {
      pipeline = pipeline.app
    }
"""


def test_replacing_namespace_and_repository_destroys_the_repository_first(tmp_path):
    mock = MockProvider(schemas_for(force_new=("name", "namespace")))
    workspace = inline_config(tmp_path, CONFIG, providers=mock)
    apply_all(workspace)
    mock.clear_calls()
    workspace = inline_config(tmp_path, CONFIG.replace('name        = "team"',
                                                       'name        = "team-v2"'),
                              providers=workspace)

    plan = plan_of(workspace)
    assert change_of(plan, "acr_repository.app").reason == "replace because namespace changed"
    done = apply_all(workspace)
    assert (done.result.added, done.result.changed, done.result.destroyed) == (2, 0, 2)
    assert mock.applied() == [("acr_repository.app", "delete"), ("acr_namespace.team", "delete"),
                              ("acr_namespace.team", "create"), ("acr_repository.app", "create")]


PIPELINE_USES_ID = """
    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app"
    }

    pipeline "app" {
      variables = { REPO_ID = acr_repository.app.id }
      stage "build" {
        task "package" {
          step "push" {
            type = "command"
            run  = "docker push ${acr_repository.app.id}"
          }
        }
      }
    }
"""


def registered_pipeline(workspace) -> dict:
    with sqlite3.connect(workspace.directory / ".flowplan" / "flowplan.db") as db:
        (definition,) = db.execute("select definition from pipelines").fetchone()
    return json.loads(definition)


def test_pipeline_using_a_repository_id_is_registered_with_the_id_and_follows_a_replacement(
        tmp_path):
    workspace = inline_config(tmp_path, PIPELINE_USES_ID)
    text = render_text(plan_of(workspace))
    assert "REPO_ID = (known after apply)" in text
    assert "content_hash = (known after apply)" in text

    apply_all(workspace)
    mock = mock_of(workspace)
    first_id = mock.objects["acr_repository.app"]["id"]
    definition = registered_pipeline(workspace)
    assert definition["variables"]["REPO_ID"] == first_id
    assert definition["stages"]["build"]["tasks"]["package"]["steps"]["push"]["run"] == \
        f"docker push {first_id}"
    assert not plan_of(workspace).has_changes

    workspace = inline_config(tmp_path, PIPELINE_USES_ID.replace('name      = "app"',
                                                                 'name      = "app-v2"'),
                              providers=workspace)
    text = render_text(plan_of(workspace))
    assert "~ variables.REPO_ID" in text
    assert f'"{first_id}" -> (known after apply)' in text
    apply_all(workspace)
    second_id = mock.objects["acr_repository.app"]["id"]
    assert second_id != first_id
    assert registered_pipeline(workspace)["variables"]["REPO_ID"] == second_id
    assert not plan_of(workspace).has_changes


def test_apply_follows_a_depends_on_list(tmp_path):
    workspace = inline_config(tmp_path, CONFIG.replace(
        "      pipeline = pipeline.app\n    }",
        "      pipeline   = pipeline.app\n      depends_on = [acr_repository.app]\n    }"))
    assert sorted(workspace.config.resources["webhook.push"].dependencies) == \
        ["acr_repository.app", "pipeline.app"]
    apply_all(workspace)
    calls = [(c.method, c.address) for c in mock_of(workspace).calls
             if c.method in ("apply_start", "apply")]
    assert calls.index(("apply", "acr_repository.app")) < \
        calls.index(("apply_start", "webhook.push"))


def test_config_dependencies_are_one_per_reference(tmp_path):
    """What `flowplan graph` draws as edges."""
    workspace = inline_config(tmp_path, CONFIG + """
        schedule "nightly" {
          pipeline = pipeline.app
          cron     = "0 2 * * *"
        }
    """, with_state=False)
    edges = sorted((address, dependency)
                   for address, resource in workspace.config.resources.items()
                   for dependency in resource.dependencies)
    assert edges == [("acr_repository.app", "acr_namespace.team"),
                     ("schedule.nightly", "pipeline.app"), ("webhook.push", "pipeline.app")]


@pytest.mark.parametrize("with_state", [True, False], ids=["plan", "validate-and-graph"])
def test_reference_cycle_is_a_diagnostic_naming_every_member(tmp_path, with_state):
    mock = MockProvider()
    with pytest.raises(InlineConfigError) as raised:
        inline_config(tmp_path, REFERENCE_CYCLE, providers=mock, with_state=with_state)
    rendered = raised.value.rendered
    match = re.search(r"main\.hcl:(\d+):(\d+): error: Reference cycle", rendered)
    assert match, rendered
    assert int(match.group(1)) in (1, 6, 11), "the cycle points at one of its members"
    for member in ("acr_namespace.a", "acr_repository.b", "acr_repository.c"):
        assert member in rendered
    assert "acr_namespace.fine" not in rendered
    assert not (tmp_path / ".flowplan" / "state.json").exists()
    assert mock.calls == []


SIX = "".join(f"""
    acr_namespace "ns{i}" {{
      instance_id = "cri-{i}"
      name        = "ns{i}"
    }}
""" for i in range(1, 7))


def most_in_flight(mock: MockProvider) -> int:
    """The largest number of applies running at once, from the start and end records."""
    return most_at_once([c.time for c in mock.calls_to("apply_start")],
                        [c.time for c in mock.calls_to("apply")])


def test_apply_runs_independent_resources_in_parallel_up_to_parallelism(tmp_path):
    mock = MockProvider(apply_delay=0.3)
    workspace = inline_config(tmp_path, SIX, providers=mock)
    apply_all(workspace, parallelism=2)
    assert most_in_flight(mock) == 2

    destroy_all(workspace)
    mock.clear_calls()
    apply_all(workspace)                        # PlanOptions' default: 10
    assert most_in_flight(mock) == 6

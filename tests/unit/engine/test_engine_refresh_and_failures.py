"""Refresh and failures in-process.

Refresh reads the real objects (MockProvider's), so a change made behind flowplan's back shows in
the next plan; `refresh=False` plans from the state alone. A resource whose provider fails is a
diagnostic pointing at its block, what depends on it is skipped, what finished stays in the
state, the lock is released, and the next apply finishes the job. Problems a provider reports
while validating, planning or reading are diagnostics too.
"""

from __future__ import annotations

import pytest

from flowplan.diagnostics import DiagnosticsError
from configs import TWO_NAMESPACES_AND_REPOSITORY
from inline import (MockProvider, apply_all, change_of, inline_config, plan_of, render_problems,
                    render_text)


@pytest.fixture
def mock() -> MockProvider:
    return MockProvider()


@pytest.fixture
def applied(tmp_path, mock):
    workspace = inline_config(tmp_path, TWO_NAMESPACES_AND_REPOSITORY, providers=mock)
    apply_all(workspace)
    mock.clear_calls()
    return workspace


def test_plan_recreates_an_object_deleted_outside_flowplan(applied, mock):
    mock.delete_outside("acr_repository.app")

    plan = plan_of(applied)
    change = change_of(plan, "acr_repository.app")
    assert change.action.value == "create"
    assert change.reason == "create because it no longer exists (deleted outside flowplan)"
    text = render_text(plan)
    assert "  # acr_repository.app will be created" in text
    assert "(create because it no longer exists (deleted outside flowplan))" in text
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in text
    assert "acr_repository.app" in [c.address for c in mock.calls_to("read")]

    mock.clear_calls()
    assert not plan_of(applied, refresh=False).has_changes
    assert mock.calls_to("read") == []

    apply_all(applied)
    assert "acr_repository.app" in mock.objects
    assert not plan_of(applied).has_changes


def test_plan_reverts_an_attribute_changed_outside_flowplan(applied, mock):
    mock.drift("acr_namespace.other", default_visibility="public")

    plan = plan_of(applied)
    assert change_of(plan, "acr_namespace.other").reason == \
        "update because default_visibility changed"
    text = render_text(plan)
    assert "  # acr_namespace.other will be updated in-place" in text
    assert '~ default_visibility = "public" -> "private"' in text
    assert not plan_of(applied, refresh=False).has_changes


def test_failed_resource_skips_its_dependents_and_keeps_what_succeeded(tmp_path, mock):
    workspace = inline_config(tmp_path, TWO_NAMESPACES_AND_REPOSITORY, providers=mock)
    mock.fail_apply("acr_namespace.team")

    failed = apply_all(workspace, ok=False)
    assert failed.result.failed == ["acr_namespace.team", "acr_repository.app"]
    assert failed.result.added == 1
    rendered = render_problems(failed.result.diagnostics, workspace.config.texts)
    assert "main.hcl:1:1: error: Failed to create acr_namespace.team" in rendered
    assert "The recorder was told to fail acr_namespace.team" in rendered
    assert "acr_repository.app: skipped because acr_namespace.team failed" in failed.progress
    assert workspace.backend.read().addresses() == ["acr_namespace.other"]
    assert "acr_repository.app" not in [c.address for c in mock.calls_to("apply_start")]
    assert not workspace.backend.lock_path.exists(), "a failed apply must release the lock"

    mock.apply_failures.clear()
    done = apply_all(workspace)
    assert (done.result.added, done.result.changed, done.result.destroyed) == (2, 0, 0)
    assert sorted(workspace.backend.read().addresses()) == [
        "acr_namespace.other", "acr_namespace.team", "acr_repository.app"]


def test_failed_update_half_way_keeps_the_finished_updates_and_the_old_values(applied, mock):
    edited = (TWO_NAMESPACES_AND_REPOSITORY.replace('"cri-123"', '"cri-124"')
              .replace('"cri-456"', '"cri-457"'))
    workspace = inline_config(applied.directory, edited, providers=applied)
    mock.fail_apply("acr_namespace.team")

    failed = apply_all(workspace, ok=False)
    assert failed.result.failed == ["acr_namespace.team"]
    assert failed.result.changed == 1
    state = workspace.backend.read()
    assert state.get("acr_namespace.other").attributes["instance_id"] == "cri-457"
    assert state.get("acr_namespace.team").attributes["instance_id"] == "cri-123"
    assert [c.address for c in plan_of(workspace).changes
            if c.action.value != "no-op"] == ["acr_namespace.team"]


def test_provider_diagnostics_on_validate_and_plan_point_at_the_attribute(tmp_path, mock):
    mock.add_diagnostic("validate", "acr_repository.app", "Name taken", "try another",
                        attribute="name")
    mock.add_diagnostic("plan", "acr_namespace.other", "Quota nearly used", severity="warning")
    workspace = inline_config(tmp_path, TWO_NAMESPACES_AND_REPOSITORY, providers=mock)

    with pytest.raises(DiagnosticsError) as raised:
        plan_of(workspace)
    rendered = render_problems(raised.value.diagnostics, workspace.config.texts)
    assert 'main.hcl:8:3: error: Name taken\n    "name": try another (in acr_repository.app)' \
        in rendered
    assert "warning: Quota nearly used" in rendered
    assert not workspace.backend.path.exists()


def test_provider_error_on_read_stops_the_plan(applied, mock):
    mock.add_diagnostic("read", "acr_namespace.other", "Access denied", "check the key")
    with pytest.raises(DiagnosticsError) as raised:
        plan_of(applied)
    assert "error: Access denied\n    check the key (in acr_namespace.other)" in \
        render_problems(raised.value.diagnostics)
    assert not plan_of(applied, refresh=False).has_changes


def test_provider_error_on_configure_is_a_diagnostic(tmp_path, mock):
    mock.add_diagnostic("configure", None, "Bad credentials")
    workspace = inline_config(tmp_path, TWO_NAMESPACES_AND_REPOSITORY, providers=mock)
    with pytest.raises(DiagnosticsError) as raised:
        plan_of(workspace)
    assert "error: Bad credentials" in render_problems(raised.value.diagnostics)
    assert mock.calls_to("plan") == []

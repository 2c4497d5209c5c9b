"""Sensitive values in-process: the state and the plan keep a salted hash, every rendering of a
plan shows `(sensitive value)`, the provider gets the clear value, and a changed secret is still
an update, refused from a saved plan once the config's secret no longer matches it."""

from __future__ import annotations

import json
import sqlite3

import pytest

from flowplan.apply import StalePlanError
from flowplan.plan.model import Plan
from configs import HOOK_SECRET_EVERYWHERE, OTHER_NAMESPACE
from inline import (apply_all, change_of, inline_config, mock_of, plan_of, render_json,
                    render_markdown, render_text)

SECRET = "whsec-Zq81-plaintext-must-not-leak"
NEW_SECRET = "whsec-rotated-9931-also-secret"


def load(directory, secret=SECRET, providers=None):
    return inline_config(directory, HOOK_SECRET_EVERYWHERE, {"hook_secret": secret},
                         providers=providers)


def renderings(plan: Plan) -> dict[str, str]:
    return {"text": render_text(plan), "json": json.dumps(render_json(plan)),
            "markdown": render_markdown(plan)}


def assert_no_secret(text: str, what: str, secret: str = SECRET) -> None:
    assert secret not in text and secret.upper() not in text, f"the secret leaked into {what}"


def files_holding(root, needle: str) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                  and (needle.encode() in p.read_bytes()
                       or needle.upper().encode() in p.read_bytes()))


def test_sensitive_value_is_hashed_in_state_and_plan_and_reaches_the_provider_in_clear(
        tmp_path):
    workspace = load(tmp_path / "config")
    plan = plan_of(workspace)
    plan_file = tmp_path / "saved.plan"
    plan.save(plan_file)
    assert change_of(plan, "webhook.push").after["secret"]["$sensitive"].startswith("sha256:")
    assert_no_secret(plan_file.read_text(encoding="utf-8"), "the saved plan file")

    apply_all(workspace, saved=Plan.load(plan_file))
    state_text = workspace.backend.path.read_text(encoding="utf-8")
    assert_no_secret(state_text, "state.json")
    assert files_holding(workspace.directory / ".flowplan", SECRET) == []
    webhook = workspace.backend.read().get("webhook.push")
    assert webhook.attributes["secret"]["$sensitive"].startswith("sha256:")

    objects = mock_of(workspace).objects
    assert objects["webhook.push"]["secret"] == SECRET
    assert objects["acr_repository.app"]["summary"] == SECRET.upper()
    assert objects["acr_repository.app"]["description"] == f"pushed with {SECRET}"
    assert not plan_of(workspace).has_changes, "reading the clear value back is no change"


def test_sensitive_value_never_appears_in_any_rendering_of_a_plan(tmp_path):
    workspace = load(tmp_path)
    first = plan_of(workspace)
    for what, text in renderings(first).items():
        assert_no_secret(text, f"the {what} plan")
    assert "(sensitive value)" in render_text(first)

    apply_all(workspace)
    workspace = load(tmp_path, NEW_SECRET, providers=workspace)
    for plan in (plan_of(workspace), plan_of(workspace, destroy=True)):
        for what, text in renderings(plan).items():
            assert_no_secret(text, f"the {what} plan")
            assert_no_secret(text, f"the {what} plan", NEW_SECRET)


def test_changed_secret_is_an_update_of_a_sensitive_value(tmp_path):
    workspace = load(tmp_path)
    apply_all(workspace)
    workspace = load(tmp_path, NEW_SECRET, providers=workspace)

    plan = plan_of(workspace)
    assert change_of(plan, "webhook.push").reason == "update because secret changed"
    text = render_text(plan)
    assert "  # webhook.push will be updated in-place" in text
    assert "      ~ secret = (sensitive value) -> (sensitive value)" in text
    assert "  # acr_repository.app will be updated in-place" in text
    assert "pipeline.app" not in text, "the pipeline keeps a reference, which did not change"
    assert "Plan: 0 to add, 2 to change, 0 to destroy." in text

    done = apply_all(workspace)
    assert (done.result.added, done.result.changed, done.result.destroyed) == (0, 2, 0)
    assert mock_of(workspace).objects["webhook.push"]["secret"] == NEW_SECRET
    assert files_holding(tmp_path / ".flowplan", NEW_SECRET) == []
    assert files_holding(tmp_path / ".flowplan", SECRET) == []
    assert not plan_of(workspace).has_changes


def test_pipeline_keeps_a_reference_to_a_sensitive_variable_not_its_value(tmp_path):
    workspace = load(tmp_path)
    pipeline = change_of(plan_of(workspace), "pipeline.app").after
    assert pipeline["variables"] == {
        "DEPLOY_TOKEN": {"$deferred": "${var.hook_secret}", "sensitive": True}}
    apply_all(workspace)
    with sqlite3.connect(tmp_path / ".flowplan" / "flowplan.db") as db:
        definition = str(db.execute("select * from pipelines").fetchall())
    # a local computed from the secret becomes its own expression: still a reference
    assert "${var.hook_secret}" in definition and "${(var.hook_secret)}" in definition
    assert_no_secret(definition, "the store")


def test_saved_plan_is_refused_before_any_change_when_a_secret_changed(tmp_path):
    workspace = load(tmp_path / "config")
    apply_all(workspace)
    directory = workspace.directory
    workspace = inline_config(directory, HOOK_SECRET_EVERYWHERE + OTHER_NAMESPACE,
                              {"hook_secret": NEW_SECRET}, providers=workspace)
    plan_file = tmp_path / "rotate.plan"
    plan_of(workspace).save(plan_file)
    mock_of(workspace).clear_calls()

    workspace = inline_config(directory, HOOK_SECRET_EVERYWHERE + OTHER_NAMESPACE,
                              {"hook_secret": "a-third-one"}, providers=workspace)
    with pytest.raises(StalePlanError, match="changed since the plan was made"):
        apply_all(workspace, saved=Plan.load(plan_file))
    assert mock_of(workspace).calls_to("apply_start") == [], "nothing may change"
    assert "acr_namespace.other" not in workspace.backend.read().addresses()

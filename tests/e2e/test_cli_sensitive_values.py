"""Sensitive values through the CLI: never written in plaintext by flowplan, shown as
`(sensitive value)`, yet a changed secret is still an update and reaches the provider in clear.

The secret reaches a webhook directly, a repository through a template and a function, and a
pipeline through a local; after plan, apply, show and a saved plan, no file under .flowplan/ and
no output may contain its bytes. The recorder's own "real objects" live outside .flowplan/ and do
hold it: the real system has to receive the secret.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from cli_workspace import Workspace, assert_ok
from configs import HOOK_SECRET_EVERYWHERE, OTHER_NAMESPACE

SECRET = "whsec-Zq81-plaintext-must-not-leak"
NEW_SECRET = "whsec-rotated-9931-also-secret"


def files_holding(root, needle: str) -> list[str]:
    """Every file under `root` whose bytes contain `needle` (case-insensitively too)."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if needle.encode() in data or needle.upper().encode() in data:
                found.append(str(path.relative_to(root)))
    return found


def assert_no_secret(text: str, what: str, secret: str = SECRET) -> None:
    assert secret not in text and secret.upper() not in text, f"the secret leaked into {what}"


@pytest.fixture
def secret_config(workspace: Workspace) -> Workspace:
    workspace.write(HOOK_SECRET_EVERYWHERE)
    workspace.env["FP_VAR_hook_secret"] = SECRET
    return workspace


def test_secret_never_appears_in_state_plans_outputs_store_or_flowplan_dir(secret_config,
                                                                            run_flowplan,
                                                                            tmp_path):
    workspace = secret_config
    plan_file = tmp_path / "saved.plan"
    outputs = {
        "validate": run_flowplan("validate"),
        "plan": run_flowplan("plan", "--out", str(plan_file)),
        "plan --json": run_flowplan("plan", "--json"),
        "plan --markdown": run_flowplan("plan", "--markdown"),
        "apply": run_flowplan("apply", str(plan_file)),
    }
    outputs.update({
        "plan after apply": run_flowplan("plan"),
        "show": run_flowplan("show"),
        "show --json": run_flowplan("show", "--json"),
        "state show webhook.push": run_flowplan("state", "show", "webhook.push"),
        "state show acr_repository.app": run_flowplan("state", "show", "acr_repository.app"),
        "show PLANFILE": run_flowplan("show", str(plan_file)),
        "graph": run_flowplan("graph"),
    })
    for what, result in outputs.items():
        if what != "show PLANFILE":
            assert_ok(result)
        assert_no_secret(result.stdout, f"the stdout of {what}")
        assert_no_secret(result.stderr, f"the stderr of {what}")

    assert "(sensitive value)" in outputs["plan"].stdout
    assert "(sensitive value)" in outputs["state show webhook.push"].stdout
    assert "No changes." in outputs["plan after apply"].stdout
    assert_no_secret(plan_file.read_text(encoding="utf-8"), "the saved plan file")
    assert_no_secret(workspace.state_path.read_text(encoding="utf-8"), "state.json")
    assert files_holding(workspace.config / ".flowplan", SECRET) == []
    assert workspace.store_path.exists()

    # The state keeps a salted hash, so a change can still be detected.
    webhook = next(r for r in workspace.state()["resources"] if r["address"] == "webhook.push")
    assert webhook["attributes"]["secret"]["$sensitive"].startswith("sha256:")

    # The store keeps the pipeline's reference to the variable, not its value: the local is
    # folded into it at plan time, and each run resolves the variable.
    with sqlite3.connect(workspace.store_path) as db:
        stored = db.execute("select definition from pipelines where name = 'app'").fetchone()[0]
    definition = json.loads(stored)
    token = definition["stages"]["build"]["tasks"]["package"]["steps"]["push"]["env"]["TOKEN"]
    deferred = [definition["variables"]["DEPLOY_TOKEN"], token]
    assert all(d["sensitive"] is True and "var.hook_secret" in d["$deferred"]
               for d in deferred), deferred

    # The real system did get the secret, in clear.
    objects = workspace.objects()
    assert objects["webhook.push"]["secret"] == SECRET
    assert objects["acr_repository.app"]["summary"] == SECRET.upper()


def test_changed_secret_is_an_update_of_a_sensitive_value(secret_config, run_flowplan):
    workspace = secret_config
    assert_ok(run_flowplan("apply", "--auto-approve"))

    rotated = {"FP_VAR_hook_secret": NEW_SECRET}
    planned = assert_ok(run_flowplan("plan", env=rotated))
    out = planned.stdout
    assert "  # webhook.push will be updated in-place" in out
    assert "      ~ secret = (sensitive value) -> (sensitive value)" in out
    assert "  # acr_repository.app will be updated in-place" in out
    assert "pipeline.app" not in out, "the pipeline keeps a reference, which did not change"
    assert "Plan: 0 to add, 2 to change, 0 to destroy." in out
    assert_no_secret(out, "the plan", NEW_SECRET)

    applied = assert_ok(run_flowplan("apply", "--auto-approve", env=rotated))
    assert "Apply complete! Resources: 0 added, 2 changed, 0 destroyed." in applied.stdout
    assert workspace.objects()["webhook.push"]["secret"] == NEW_SECRET
    assert files_holding(workspace.config / ".flowplan", NEW_SECRET) == []
    assert files_holding(workspace.config / ".flowplan", SECRET) == []
    assert "No changes." in assert_ok(run_flowplan("plan", env=rotated)).stdout


def test_secret_from_an_fpvars_file_or_var_option_stays_out_of_flowplan_dir(workspace,
                                                                            run_flowplan):
    workspace.write(HOOK_SECRET_EVERYWHERE)
    workspace.write(f'hook_secret = "{SECRET}"\n', "secrets.auto.fpvars")
    assert_ok(run_flowplan("apply", "--auto-approve"))
    assert workspace.objects()["webhook.push"]["secret"] == SECRET
    assert files_holding(workspace.config / ".flowplan", SECRET) == []

    planned = assert_ok(run_flowplan("plan", "--var", f"hook_secret={NEW_SECRET}"))
    assert "~ secret = (sensitive value) -> (sensitive value)" in planned.stdout
    assert_no_secret(planned.output, "the plan", NEW_SECRET)


def test_saved_plan_is_refused_before_any_change_when_a_secret_changed(secret_config,
                                                                       run_flowplan, tmp_path):
    workspace = secret_config
    assert_ok(run_flowplan("apply", "--auto-approve"))
    workspace.write(HOOK_SECRET_EVERYWHERE + OTHER_NAMESPACE)
    plan_file = tmp_path / "rotate.plan"
    assert_ok(run_flowplan("plan", "--out", str(plan_file),
                           env={"FP_VAR_hook_secret": NEW_SECRET}))
    workspace.clear_calls()

    refused = run_flowplan("apply", str(plan_file), env={"FP_VAR_hook_secret": "a-third-one"})
    assert refused.code == 1
    assert "changed since the plan was made" in refused.stderr
    assert workspace.calls("apply") == [], "nothing may change when the saved plan is stale"
    assert "acr_namespace.other" not in workspace.state_addresses()

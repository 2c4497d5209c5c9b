"""`flowplan import ADDR ID` as a person runs it: a pipeline registered in the store and a GitHub
hook made by hand (the real github provider against the emulator) come into the state, after
which plan shows only real differences; an address not in the config, one already managed, a
wrong id and a held state lock are refused with exit 1 and nothing written."""

from __future__ import annotations

import json

import pytest

from flowplan.state import LocalStateBackend
from tests.emulators.github import GithubEmulator

TOKEN = "ghp_cli_import_token_0123456789SECRET"
SECRET = "whsec-cli-import-1"

PIPELINE = """
    pipeline "ci" {
      stage "build" {
        task "t" {
          step "s" {
            type = "command"
            run  = "true"
          }
        }
      }
    }
"""


def test_import_brings_a_pipeline_back_and_plan_shows_no_change(workspace, run_flowplan):
    workspace.write(PIPELINE)
    assert run_flowplan("apply", "--auto-approve").code == 0
    assert run_flowplan("state", "rm", "pipeline.ci").code == 0
    serial = workspace.state()["serial"]

    imported = run_flowplan("import", "pipeline.ci", "ci")
    assert imported.code == 0, imported
    assert "Import successful! pipeline.ci is now in the flowplan state" in imported.stdout
    assert 'resource "pipeline" "ci" {' in imported.stdout
    assert workspace.state_addresses() == ["pipeline.ci"]
    assert workspace.state()["serial"] == serial + 1
    planned = run_flowplan("plan", "--detailed-exitcode")
    assert planned.code == 0, planned
    assert "No changes" in planned.stdout


def test_import_refusals_exit_1_and_write_nothing(workspace, run_flowplan):
    workspace.write(PIPELINE)
    assert run_flowplan("apply", "--auto-approve").code == 0
    before = workspace.state_path.read_text()

    again = run_flowplan("import", "pipeline.ci", "ci")
    assert again.code == 1
    assert "pipeline.ci is already managed" in again.stderr
    assert "flowplan state rm pipeline.ci" in again.stderr

    missing = run_flowplan("import", "webhook.nope", "octo-org/app/1")
    assert missing.code == 1 and "webhook.nope is not in the config" in missing.stderr

    assert run_flowplan("state", "rm", "pipeline.ci").code == 0
    before = workspace.state_path.read_text()
    wrong = run_flowplan("import", "pipeline.ci", "other")
    assert wrong.code == 1 and "Cannot import pipeline.ci from 'other'" in wrong.stderr
    assert workspace.state_path.read_text() == before


def test_import_waits_for_nobody_when_the_state_is_locked(workspace, run_flowplan):
    workspace.write(PIPELINE)
    assert run_flowplan("apply", "--auto-approve").code == 0
    assert run_flowplan("state", "rm", "pipeline.ci").code == 0
    with LocalStateBackend(workspace.state_path).lock("test holds it"):
        locked = run_flowplan("import", "pipeline.ci", "ci")
    assert locked.code == 1 and "lock" in locked.stderr.lower()
    assert "pipeline.ci" not in workspace.state_addresses()


@pytest.fixture
def github():
    with GithubEmulator(TOKEN, ("octo-org/app",)) as emulator:
        yield emulator


def test_import_of_a_github_hook_made_by_hand(workspace, run_flowplan, github):
    hook = github.add_hook("octo-org/app", "https://ci.example.com/hooks/ci",
                           events=["push", "pull_request"])
    workspace.write(f"""
        variable "github_token" {{
          type      = string
          sensitive = true
        }}
        variable "webhook_secret" {{
          type      = string
          sensitive = true
        }}
        flowplan {{
          server {{
            url = "https://ci.example.com"
          }}
        }}
        provider "github" {{
          token    = var.github_token
          base_url = "{github.base_url}"
        }}
        {PIPELINE}
        webhook "ci" {{
          pipeline   = pipeline.ci
          repository = "octo-org/app"
          events     = ["push", "pull_request"]
          secret     = var.webhook_secret
        }}
    """)
    env = {"FLOWPLAN_PROVIDER_PLUGINS": "alicloud=recorder_provider:RecorderProvider",
           "FP_VAR_github_token": TOKEN, "FP_VAR_webhook_secret": SECRET}
    assert run_flowplan("apply", "--auto-approve", "--target", "pipeline.ci", env=env).code == 0

    imported = run_flowplan("import", "webhook.ci", f"octo-org/app/{hook.id}", env=env)
    assert imported.code == 0, imported
    assert f'id         = "{hook.id}"' in imported.stdout
    assert "secret" not in imported.stdout, "GitHub never shows it: not imported"
    recorded = next(r for r in workspace.state()["resources"] if r["address"] == "webhook.ci")
    assert recorded["attributes"]["id"] == str(hook.id)
    assert recorded["provider"] == "github"

    planned = run_flowplan("plan", "--json", env=env)
    assert planned.code == 0, planned
    change = next(c for c in json.loads(planned.stdout)["resource_changes"]
                  if c["address"] == "webhook.ci")["change"]
    assert change["actions"] == ["update"]
    before, after = change["before"], change["after"]
    differing = {key for key in {*before, *after} if before.get(key) != after.get(key)
                 or change["before_sensitive"].get(key) != change["after_sensitive"].get(key)}
    assert differing == {"secret"}, "GitHub never shows a secret: setting it is the change"

    applied = run_flowplan("apply", "--auto-approve", env=env)
    assert applied.code == 0, applied
    assert github.hooks("octo-org/app")[hook.id].config["secret"] == SECRET
    for text in (imported.output, planned.output, applied.output,
                 workspace.state_path.read_text()):
        assert TOKEN not in text and SECRET not in text

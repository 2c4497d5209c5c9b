"""Plans show what will run: pipeline attributes are evaluated at plan time, and a run executes the
applied definition (or, with --from-config, the working copy). In-process, through flowplan.engine
with the real flowplan provider and a SQLite store in a temporary directory."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from flowplan import engine
from flowplan.executor.status import Status
from flowplan.views import render_plan_human, render_plan_json, render_plan_markdown

WEB = """
variable "team" {
  default = "web"
}
variable "env" {
  default = "dev"
}
variable "token" {
  sensitive = true
}
locals {
  target = "${var.team}-${var.env}"
}
pipeline "web" {
  description = "deploys ${local.target}"
  variables   = { TARGET = local.target, NOTE = "none" }
  stage "deploy" {
    task "ship" {
      step "go" {
        type = "command"
        run  = <<-EOT
          echo "./deploy.sh ${var.env} ${run.number} ${upper(var.env)} ${var.env == "prod" ? "live" : "dry"}"
          echo "target=$TARGET note=${run.variables.NOTE} token=${var.token}"
        EOT
      }
    }
  }
}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    directory = tmp_path / "web"
    directory.mkdir()
    (directory / "main.hcl").write_text(textwrap.dedent(WEB))
    (directory / "web.auto.fpvars").write_text('env = "staging"\n')
    return directory


def plan_of(directory: Path, environ: dict[str, str] | None = None):
    workspace = engine.load(directory, environ=environ or {})
    return workspace, engine.plan(workspace)


def apply_all(directory: Path, environ: dict[str, str] | None = None) -> None:
    workspace = engine.load(directory, environ=environ or {})
    engine.apply(workspace)


def test_plan_shows_plan_time_values_in_text_json_and_markdown(config):
    _, plan = plan_of(config)
    text = render_plan_human(plan, color=False)
    assert 'description  = "deploys web-staging"' in text
    assert 'TARGET = "web-staging"' in text
    after = json.loads(render_plan_json(plan))["resource_changes"][0]["change"]["after"]
    assert after["description"] == "deploys web-staging"
    run = after["stages"]["deploy"]["tasks"]["ship"]["steps"]["go"]["run"]
    assert run == {"deferred": 'echo "./deploy.sh staging ${run.number} STAGING dry"\n'
                               'echo "target=$TARGET note=${run.variables.NOTE} '
                               'token=${var.token}"\n'}
    assert "deploys web-staging" in render_plan_markdown(plan)


def test_changing_a_variable_plans_an_update_of_the_applied_pipeline(config):
    apply_all(config)
    _, plan = plan_of(config, {"FP_VAR_env": "prod"})
    [change] = plan.changes
    assert change.action.value == "update"
    text = render_plan_human(plan, color=False)
    assert '"deploys web-staging" -> "deploys web-prod"' in text
    assert "./deploy.sh prod ${run.number} PROD live" in text
    markdown = render_plan_markdown(plan)
    assert '"deploys web-staging" -> "deploys web-prod"' in markdown
    document = json.loads(render_plan_json(plan))["resource_changes"][0]["change"]
    assert (document["before"]["description"], document["after"]["description"]) == (
        "deploys web-staging", "deploys web-prod")


def test_no_secret_value_is_planned_or_stored(config, tmp_path):
    apply_all(config, {"FP_VAR_token": "hunter2-secret"})
    _, plan = plan_of(config, {"FP_VAR_token": "hunter2-secret"})
    assert not plan.has_changes
    for path in (config / ".flowplan").rglob("*"):
        if path.is_file():
            assert b"hunter2-secret" not in path.read_bytes(), path


# -- runs ---------------------------------------------------------------------------------------

def start(prepared, **kwargs):
    return prepared.service.start(prepared.pipeline, prepared.definition,
                                  variables=prepared.variables, sensitive=prepared.sensitive,
                                  origin=prepared.origin, **kwargs)


def log_of(service, ref: str) -> list[str]:
    return [line.text for line in service.logs(ref)]


def test_a_pipeline_never_applied_is_refused_naming_both_ways_forward(config):
    with pytest.raises(engine.RunRefused) as refused:
        engine.prepare_run(config, "web", environ={})
    assert "flowplan apply" in str(refused.value) and "--from-config" in str(refused.value)


def test_a_run_executes_the_applied_definition_and_says_when_the_config_differs(config):
    apply_all(config)
    (config / "web.auto.fpvars").write_text('env = "prod"\n')         # edited, not applied
    prepared = engine.prepare_run(config, "web", environ={"FP_VAR_token": "t0k"})
    assert prepared.origin == "applied"
    assert prepared.notes == (
        "note: pipeline.web differs from its applied definition; running the applied one "
        "(flowplan plan shows the difference; --from-config runs the working copy)",)
    outcome = start(prepared)
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert log_of(prepared.service, outcome.run) == [
        "./deploy.sh staging 1 STAGING dry", "target=web-staging note=none token=***"]
    assert prepared.service.get(outcome.run).origin == "applied"


def test_from_config_runs_the_working_copy_and_the_run_says_so(config):
    apply_all(config)
    (config / "web.auto.fpvars").write_text('env = "prod"\n')
    prepared = engine.prepare_run(config, "web", from_config=True,
                                  environ={"FP_VAR_token": "t0k"})
    assert prepared.notes == ()
    outcome = start(prepared)
    assert log_of(prepared.service, outcome.run)[0] == "./deploy.sh prod 1 PROD live"
    assert prepared.service.get(outcome.run).origin == "working_copy"


def test_a_broken_working_copy_still_runs_the_applied_definition(config):
    apply_all(config)
    (config / "broken.hcl").write_text('pipeline "x" {\n  stage "s" {\n    nope = 1\n  }\n}\n')
    prepared = engine.prepare_run(config, "web", environ={"FP_VAR_token": "t0k"})
    assert prepared.notes == (
        f"note: the config in {config} does not load (1 error; flowplan validate shows them); "
        "running the applied definition of pipeline.web",)
    assert start(prepared).status == Status.SUCCEEDED


def test_run_var_sets_a_pipeline_variable_read_as_run_variables(config):
    apply_all(config)
    prepared = engine.prepare_run(config, "web", pipeline_variables={"NOTE": "$(id)"},
                                  environ={"FP_VAR_token": "t0k"})
    outcome = start(prepared)
    assert log_of(prepared.service, outcome.run)[1] == "target=web-staging note=$(id) token=***"


def test_run_var_naming_a_config_variable_is_refused_with_the_ways_forward(config):
    apply_all(config)
    with pytest.raises(engine.RunRefused) as refused:
        engine.prepare_run(config, "web", pipeline_variables={"env": "prod"},
                           environ={"FP_VAR_token": "t0k"})
    message = str(refused.value)
    assert "var.env is a config variable" in message
    assert "flowplan apply" in message and "variables = {" in message


def test_run_var_naming_nothing_is_refused(config):
    apply_all(config)
    with pytest.raises(engine.RunRefused, match='has no pipeline variable "NOPE"'):
        engine.prepare_run(config, "web", pipeline_variables={"NOPE": "1"},
                           environ={"FP_VAR_token": "t0k"})


def test_a_sensitive_variable_is_resolved_at_run_time_from_a_store_secret(config):
    apply_all(config)
    key = {"FLOWPLAN_SECRET_KEY": "a-long-enough-operator-key"}
    service = engine.open_run_service(config)
    service.set_secret("token", "from-the-store", key)
    prepared = engine.prepare_run(config, "web", environ=key)
    assert prepared.variables == {"token": "from-the-store"}
    outcome = start(prepared)
    assert outcome.status == Status.SUCCEEDED
    assert log_of(prepared.service, outcome.run)[1].endswith("token=***")
    stored = json.dumps(prepared.service.get(outcome.run).variables)
    assert "from-the-store" not in stored and "$sensitive" in stored


def test_fp_var_wins_over_a_store_secret(config):
    apply_all(config)
    key = {"FLOWPLAN_SECRET_KEY": "a-long-enough-operator-key"}
    engine.open_run_service(config).set_secret("token", "from-the-store", key)
    prepared = engine.prepare_run(config, "web", environ={**key, "FP_VAR_token": "from-env"})
    assert prepared.variables == {"token": "from-env"}


def test_a_sensitive_variable_without_any_value_refuses_the_run(config):
    apply_all(config)
    with pytest.raises(engine.RunRefused, match="var.token is sensitive and has no value"):
        engine.prepare_run(config, "web", environ={})


def test_a_store_secret_that_cannot_be_decrypted_names_the_secret(config):
    apply_all(config)
    engine.open_run_service(config).set_secret(
        "token", "x", {"FLOWPLAN_SECRET_KEY": "a-long-enough-operator-key"})
    with pytest.raises(engine.RunRefused) as refused:
        engine.prepare_run(config, "web", environ={"FLOWPLAN_SECRET_KEY": "another-long-key-000"})
    assert str(refused.value) == (
        "the store secret token cannot be decrypted: FLOWPLAN_SECRET_KEY is not the key it was "
        "stored with (or the stored value is damaged); give the key it was stored with, or "
        "store it again with `flowplan secret set token`")
    with pytest.raises(engine.RunRefused) as refused:
        engine.prepare_run(config, "web", environ={})
    assert str(refused.value) == ("the store secret token cannot be decrypted: neither "
                                  "FLOWPLAN_SECRET_KEY_FILE nor FLOWPLAN_SECRET_KEY is set; "
                                  "give the key it was stored with")


APPROVAL = """
variable "token" {
  sensitive = true
}
pipeline "gated" {
  stage "gate" {
    trigger = "manual"
    task "t" {
      step "use" {
        type = "command"
        run  = "echo ${var.token}"
      }
    }
  }
}
"""


def test_continuing_resolves_secrets_again_and_refuses_a_changed_one_before_recording(tmp_path):
    config = tmp_path / "gated"
    config.mkdir()
    (config / "main.hcl").write_text(textwrap.dedent(APPROVAL))
    apply_all(config)
    prepared = engine.prepare_run(config, "gated", environ={"FP_VAR_token": "one"})
    outcome = start(prepared)
    assert outcome.status == Status.WAITING
    service = prepared.service
    changed = engine.continue_values(service, outcome.run, config, {"FP_VAR_token": "two"})
    from flowplan.executor.errors import RunServiceError

    with pytest.raises(RunServiceError, match="its value changed since the run started"):
        service.approve(outcome.run, "bob", variables=changed, sensitive=set(changed))
    assert service.store.approvals(service.get(outcome.run).id) == []
    same = engine.continue_values(service, outcome.run, config, {"FP_VAR_token": "one"})
    assert service.approve(outcome.run, "bob", variables=same,
                           sensitive=set(same)).status == Status.SUCCEEDED

"""A sensitive value that reaches an error (a task's `when` or `timeout`, a step attribute that
fails validation, the run's error) or an approval comment is stored, and shown by
`runs show --json`, as ***."""

from __future__ import annotations

import textwrap

from conftest import load_pipeline
from flowplan.config.loader import load_config
from flowplan.executor.status import Status
from flowplan.views.run_text import render_run_tree, to_json

SECRET = "s3cr3t-Tok3n-0042"


def pipeline_hcl(task_attributes: str = "", step_attributes: str = "",
                 trigger: str = "auto") -> str:
    return f"""
    variable "token" {{
      sensitive = true
    }}
    pipeline "app" {{
      stage "s" {{
        trigger = "{trigger}"
        task "t" {{
          {task_attributes}
          step "x" {{
            type = "command"
            run  = "echo hi"
            {step_attributes}
          }}
        }}
      }}
    }}
    """


def start(service, config_dir, hcl: str):
    definition, variables, sensitive = load_pipeline(config_dir, hcl, "app", {"token": SECRET})
    return service.start("app", definition, variables=variables, sensitive=sensitive), \
        variables, sensitive


def shown(service, ref: str = "app#1") -> str:
    tree = service.show(ref)
    return to_json(tree) + render_run_tree(tree)


def test_task_timeout_computed_from_a_sensitive_value_is_refused_at_load_without_it(config_dir):
    # a task's timeout shapes the run: it must be known at plan time (flowplan validate says so)
    (config_dir / "main.hcl").write_text(textwrap.dedent(pipeline_hcl('timeout = "${var.token}"')))
    config = load_config(config_dir, {"token": SECRET}, environ={})
    assert [d.summary for d in config.diagnostics] == ["Value needed before the run"]
    assert SECRET not in str([(d.summary, d.detail) for d in config.diagnostics])


def test_task_when_computed_from_a_sensitive_value_fails_with_the_value_masked(service,
                                                                             config_dir):
    outcome, _, _ = start(service, config_dir, pipeline_hcl("when = var.token"))
    assert outcome.status == Status.FAILED
    task = service.store.task_runs(service.get("app#1").id)[0]
    assert task.error == "when: must be true or false, got str '***'"
    assert SECRET not in shown(service)


def test_step_attribute_from_a_sensitive_value_failing_validation_is_masked(service,
                                                                           config_dir):
    outcome, _, _ = start(service, config_dir, pipeline_hcl(step_attributes='timeout = '
                                                                            '"${var.token}"'))
    assert outcome.status == Status.FAILED
    run = service.get("app#1")
    step = service.store.step_runs(run.id)[0]
    assert "'***' is not a duration" in step.error
    assert SECRET not in (step.error + run.error) and "***" in run.error
    assert SECRET not in shown(service)


def test_approval_comment_holding_a_sensitive_value_is_masked(service, config_dir):
    outcome, variables, sensitive = start(service, config_dir, pipeline_hcl(trigger="manual"))
    assert outcome.status == Status.WAITING
    service.approve("app#1", "alice", f"token is {SECRET}", variables=variables,
                    sensitive=sensitive)
    approvals = service.store.approvals(service.get("app#1").id)
    assert [a.comment for a in approvals] == ["token is ***"]
    assert "token is ***" in shown(service) and SECRET not in shown(service)

"""Pipelines: the normalised definition, deferred run-time and sensitive values, computed
attributes of other resources, and resource dependencies."""

from __future__ import annotations

import json

import pytest

from flowplan.config.loader import reevaluate
from flowplan.values import KNOWN_AFTER_APPLY

REPOSITORY = 'acr_repository "app" {\n  namespace = "team"\n  name = "app"\n}\n'
TOKEN = 'variable "token" {\n  sensitive = true\n  default = "hunter2"\n}\n'


def one_step(attributes: str, prelude: str = "") -> str:
    """A pipeline "p" whose only step "x" holds `attributes` (a `command` step unless given)."""
    if "type" not in attributes:
        attributes = 'type = "command"\n' + attributes
    body = "".join(f"        {line}\n" for line in attributes.splitlines())
    return (prelude + 'pipeline "p" {\n  stage "s" {\n    task "t" {\n      step "x" {\n'
            + body + "      }\n    }\n  }\n}\n")


def step_of(config, name: str = "x") -> dict:
    assert [(str(d.range), d.summary, d.detail) for d in config.diagnostics] == []
    return config.resources["pipeline.p"].attributes["stages"]["s"]["tasks"]["t"]["steps"][name]


# -- shape ----------------------------------------------------------------------------------------

def test_definition_keys_stages_tasks_and_steps_by_name_with_their_order(load):
    config = load("""\
        pipeline "p" {
          description = "build and ship"
          parallelism = 2
          variables   = {mode = "fast"}
          cache "npm" {
            key          = "npm-v1"
            restore_keys = ["npm-"]
            paths        = ["node_modules"]
          }
          stage "zeta" {
            task "b" {
              step "second" {
                type = "command"
                run  = "b1"
              }
              step "first" {
                type = "command"
                run  = "b2"
              }
            }
            task "a" {
              needs = ["b"]
              step "only" {
                type = "command"
                run  = "a1"
              }
            }
          }
          stage "alpha" {
            trigger = "manual"
          }
        }
    """)
    assert list(config.diagnostics) == []
    definition = config.resources["pipeline.p"].attributes
    assert set(definition) == {"version", "description", "source", "variables", "parallelism",
                               "caches", "stages"}
    assert definition["description"] == "build and ship"
    assert definition["parallelism"] == 2
    assert definition["variables"] == {"mode": "fast"}
    assert definition["source"] is None
    assert definition["caches"] == {"npm": {"key": "npm-v1", "restore_keys": ["npm-"],
                                            "paths": ["node_modules"]}}
    stages = definition["stages"]
    assert [(name, s["index"], s["trigger"]) for name, s in stages.items()] == [
        ("zeta", 0, "auto"), ("alpha", 1, "manual")]
    assert stages["alpha"]["tasks"] == {}
    tasks = stages["zeta"]["tasks"]
    assert list(tasks) == ["b", "a"] and tasks["a"]["needs"] == ["b"]
    steps = tasks["b"]["steps"]
    assert [(name, s["index"], s["run"]) for name, s in steps.items()] == [
        ("second", 0, "b1"), ("first", 1, "b2")]
    json.dumps(definition)                      # plain data, ready for the store


def test_reordering_steps_changes_the_definition(load, config_dir):
    x = 'type = "command"\nrun = "a"'
    two_steps = one_step(x).replace('      }\n    }\n', '      }\n      step "y" {\n'
                                    '        type = "command"\n        run = "b"\n      }\n'
                                    '    }\n', 1)
    before = load(two_steps).resources["pipeline.p"].attributes
    swapped = two_steps.replace('step "x"', 'step "TMP"').replace('step "y"', 'step "x"') \
        .replace('step "TMP"', 'step "y"')
    after = load(swapped).resources["pipeline.p"].attributes
    steps_before = before["stages"]["s"]["tasks"]["t"]["steps"]
    steps_after = after["stages"]["s"]["tasks"]["t"]["steps"]
    assert (steps_before["x"]["index"], steps_before["y"]["index"]) == (0, 1)
    assert (steps_after["y"]["index"], steps_after["x"]["index"]) == (0, 1)
    assert before != after


def test_step_with_a_literal_run_is_plain_data(load):
    step = step_of(load(one_step('run = "make test"\nenv = {CI = "1"}\ntimeout = "5m"')))
    assert step == {"index": 0, "type": "command", "run": "make test", "shell": "bash -e",
                    "env": {"CI": "1"}, "timeout": "5m", "outputs": []}


# -- plan-time and run-time values ----------------------------------------------------------------

@pytest.mark.parametrize("expression, text", [
    ('"git checkout ${run.branch}"', "git checkout ${run.branch}"),
    ("run.commit", "${run.commit}"),
    ('"echo ${steps.build.outputs.version}"', "echo ${steps.build.outputs.version}"),
    ('"key-${hash_files("**/pom.xml")}"', 'key-${hash_files("**/pom.xml")}'),
    ('"in ${path.cwd}"', "in ${path.cwd}"),
    ("run.variables.REGION", "${run.variables.REGION}"),
])
def test_run_time_values_are_deferred_as_template_text(load, expression, text):
    step = step_of(load(one_step(f"run = {expression}")))
    assert step["run"] == {"$deferred": text, "sensitive": False}


def test_run_time_heredoc_is_deferred_as_its_text(load):
    step = step_of(load(one_step('run = <<-EOT\n  echo ${run.number}\n  echo "$${HOME}"\nEOT')))
    assert step["run"] == {"$deferred": 'echo ${run.number}\necho "$${HOME}"\n',
                           "sensitive": False}


PLAN_TIME = ('variable "env" {\n  default = "dev"\n}\nvariable "team" {\n  default = "web"\n}\n'
             'locals {\n  target = "${var.team}-${var.env}"\n}\n')


@pytest.mark.parametrize("expression, planned", [
    ('"deploys ${local.target}"', "deploys web-staging"),
    ('var.env == "staging" ? "yes" : "no"', "yes"),
    ('upper(var.env)', "STAGING"),
    ('lookup({staging = "s1", prod = "p1"}, var.env, "none")', "s1"),
    ('<<-EOT\n  deploy ${local.target}\nEOT', "deploy web-staging\n"),
])
def test_config_variables_are_evaluated_at_plan_time(load, expression, planned):
    step = step_of(load(one_step(f"run = {expression}", PLAN_TIME), variables={"env": "staging"}))
    assert step["run"] == planned


@pytest.mark.parametrize("expression, text", [
    ('"./deploy.sh ${var.env} ${run.commit_short}"', "./deploy.sh staging ${run.commit_short}"),
    ('var.env == "staging" ? run.branch : "main"', "${run.branch}"),
    ('"${upper(var.env)}-${lower(run.branch)}"', "STAGING-${lower(run.branch)}"),
    ('lookup({staging = "s1"}, run.variables.R, var.env)',
     '${lookup({"staging" = "s1"}, run.variables.R, "staging")}'),
    ('run.number > 1 && var.env == "staging"', "${((run.number > 1) && true)}"),
    ('"${local.target}: $${literal} %%{x} ${run.number}"',
     "web-staging: $${literal} %%{x} ${run.number}"),
    ('<<-EOT\n  echo "${local.target}"\n  echo ${run.commit}\nEOT',
     'echo "web-staging"\necho ${run.commit}\n'),
])
def test_templates_are_partly_evaluated(load, expression, text):
    step = step_of(load(one_step(f"run = {expression}", PLAN_TIME), variables={"env": "staging"}))
    assert step["run"] == {"$deferred": text, "sensitive": False}


def test_maps_keep_known_values_and_defer_only_run_time_leaves(load):
    config = load(PLAN_TIME + 'pipeline "p" {\n  variables = { TARGET = local.target, '
                  'B = run.branch }\n}\n', variables={"env": "prod"})
    assert config.resources["pipeline.p"].attributes["variables"] == {
        "TARGET": "web-prod", "B": {"$deferred": "${run.branch}", "sensitive": False}}


def test_a_folded_value_parses_back_to_the_same_result(load, tmp_path):
    from flowplan.config.runtime import RunContext, resolve

    step = step_of(load(one_step('run = "q\\"uote\\\\ ${var.env}\\t${run.branch}"', PLAN_TIME),
                        variables={"env": 'a"b\\c ${x}'}))
    ctx = RunContext(variables={}, sensitive=set(), run={"branch": "main"}, step_outputs={},
                     workspace=tmp_path, config_dir=tmp_path)
    assert resolve(step["run"], ctx) == 'q"uote\\ a"b\\c ${x}\tmain'


def test_sensitive_variable_in_a_pipeline_is_a_reference_never_a_value(load):
    config = load(one_step('run = "login ${var.token}"\nenv = {TOKEN = var.token, A = "a"}',
                           TOKEN))
    step = step_of(config)
    assert step["run"] == {"$deferred": "login ${var.token}", "sensitive": True}
    assert step["env"] == {"TOKEN": {"$deferred": "${var.token}", "sensitive": True}, "A": "a"}
    assert "hunter2" not in json.dumps(config.resources["pipeline.p"].attributes)


def test_run_time_and_sensitive_in_one_template_is_deferred_and_sensitive(load):
    step = step_of(load(one_step('run = "push ${run.branch} ${var.token}"', TOKEN)))
    assert step["run"] == {"$deferred": "push ${run.branch} ${var.token}", "sensitive": True}


def test_a_sensitive_local_becomes_its_expression(load):
    prelude = TOKEN + 'locals {\n  auth = "Bearer ${var.token}"\n}\n'
    step = step_of(load(one_step('run = "push ${run.branch} ${local.auth}"', prelude)))
    assert step["run"] == {"$deferred": 'push ${run.branch} ${("Bearer ${var.token}")}',
                           "sensitive": True}


def test_sensitive_variable_without_a_value_is_left_to_the_run(load):
    prelude = 'variable "token" {\n  sensitive = true\n}\n'
    step = step_of(load(one_step('run = "login ${var.token}"', prelude)))
    assert step["run"] == {"$deferred": "login ${var.token}", "sensitive": True}


def test_sensitive_variable_without_a_value_is_required_where_it_is_needed_now(load):
    config = load('variable "token" {\n  sensitive = true\n}\n'
                  'locals {\n  t = var.token\n}\n'
                  'deployment_group "d" {\n  environment = local.t\n}\n')
    assert [(d.summary, d.address) for d in config.diagnostics] == [
        ("No value for required variable", "var.token")]
    assert "deployment_group.d needs its value now" in config.diagnostics.items[0].detail


def test_hash_files_outside_a_pipeline_is_evaluated_at_plan_time(load, config_dir):
    (config_dir / "pom.xml").write_text("<p/>")
    config = load('locals {\n  k = hash_files("pom.xml")\n}\n')
    assert len(config.locals["k"]) == 64


# -- computed attributes --------------------------------------------------------------------------

def test_computed_attribute_is_known_after_apply_without_state(load):
    step = step_of(load(one_step('run = "docker push ${acr_repository.app.id}"', REPOSITORY)))
    assert step["run"] == KNOWN_AFTER_APPLY


def test_computed_attribute_comes_from_the_state_when_given(load):
    state = {"acr_repository.app": {"id": "cr-42", "name": "app"}}
    config = load(one_step('run = "docker push ${acr_repository.app.id}"', REPOSITORY),
                  state_attributes=state.get)
    assert step_of(config)["run"] == "docker push cr-42"


def test_configured_attribute_wins_over_the_state(load):
    state = {"acr_repository.app": {"id": "cr-42", "name": "old"}}
    config = load(one_step('run = "echo ${acr_repository.app.name}"', REPOSITORY),
                  state_attributes=state.get)
    assert step_of(config)["run"] == "echo app"


def test_marker_in_the_state_is_not_used_as_a_value(load):
    state = {"acr_repository.app": {"id": {"$unknown": "known after apply"}}}
    config = load(one_step('run = "echo ${acr_repository.app.id}"', REPOSITORY),
                  state_attributes=state.get)
    assert step_of(config)["run"] == KNOWN_AFTER_APPLY


def test_reevaluate_takes_computed_attributes_from_the_state(load):
    config = load(one_step('run = "docker push ${acr_repository.app.id}"', REPOSITORY))
    assert step_of(config)["run"] == KNOWN_AFTER_APPLY
    resource, problems = reevaluate(config, "pipeline.p",
                                    {"acr_repository.app": {"id": "cr-7"}}.get)
    steps = resource.attributes["stages"]["s"]["tasks"]["t"]["steps"]
    assert steps["x"]["run"] == "docker push cr-7"
    assert not problems.items
    assert step_of(config)["run"] == KNOWN_AFTER_APPLY      # the config is left as it was


def test_a_run_time_template_waiting_on_a_computed_attribute_is_known_after_apply(load):
    config = load(one_step('run = "push ${acr_repository.app.id}:${run.number}"', REPOSITORY))
    assert step_of(config)["run"] == KNOWN_AFTER_APPLY
    resource, _ = reevaluate(config, "pipeline.p", {"acr_repository.app": {"id": "cr-7"}}.get)
    steps = resource.attributes["stages"]["s"]["tasks"]["t"]["steps"]
    assert steps["x"]["run"] == {"$deferred": "push cr-7:${run.number}", "sensitive": False}


# -- dependencies ---------------------------------------------------------------------------------

def test_dependencies_come_from_references(load):
    config = load("""\
        acr_namespace "team" {
          instance_id = "cri-1"
          name        = "team"
        }
        acr_repository "app" {
          namespace = acr_namespace.team.name
          name      = "app"
        }
        pipeline "p" {
          stage "s" {
            task "t" {
              step "x" {
                type = "command"
                run  = "push ${acr_repository.app.id}"
              }
            }
          }
        }
        schedule "nightly" {
          pipeline = pipeline.p
          cron     = "0 2 * * *"
        }
        webhook "push" {
          pipeline   = pipeline.p
          depends_on = schedule.nightly
        }
    """)
    assert list(config.diagnostics) == []
    dependencies = {a: r.dependencies for a, r in config.resources.items()}
    assert dependencies == {
        "acr_namespace.team": [],
        "acr_repository.app": ["acr_namespace.team"],
        "pipeline.p": ["acr_repository.app"],
        "schedule.nightly": ["pipeline.p"],
        "webhook.push": ["pipeline.p", "schedule.nightly"],
    }
    assert "depends_on" not in config.resources["webhook.push"].attributes


def test_depends_on_a_list_of_resources_adds_them_without_a_diagnostic(load):
    config = load("""\
        deployment_group "daily" {
          environment = "daily"
        }
        acr_namespace "team" {
          instance_id = "cri-1"
          name        = "team"
        }
        pipeline "p" {
          depends_on = [deployment_group.daily, acr_namespace.team]
        }
    """)
    assert list(config.diagnostics) == []
    assert config.resources["pipeline.p"].dependencies == ["acr_namespace.team",
                                                           "deployment_group.daily"]


def test_depends_on_a_list_records_the_dependency(load):
    config = load('deployment_group "d" {\n  environment = "e"\n}\n'
                  'pipeline "p" {\n  depends_on = [deployment_group.d]\n}\n')
    assert config.resources["pipeline.p"].dependencies == ["deployment_group.d"]


def test_references_through_locals_become_resource_dependencies(load):
    config = load(REPOSITORY + 'locals {\n  repo = acr_repository.app.name\n}\n'
                  'schedule "s" {\n  pipeline = pipeline.p\n  cron = "x"\n'
                  '  branch = local.repo\n}\npipeline "p" {\n}\n')
    assert list(config.diagnostics) == []
    assert config.resources["schedule.s"].attributes["branch"] == "app"
    assert config.resources["schedule.s"].dependencies == ["acr_repository.app", "pipeline.p"]




def test_reevaluating_a_resource_does_not_repeat_its_diagnostics(load):
    config = load(REPOSITORY + 'schedule "s" {\n  pipeline = pipeline.p\n  cron = "x"\n'
                  '  branch = acr_repository.app.id\n  timezone = 5\n}\npipeline "p" {\n}\n')
    assert len(config.diagnostics) == 1
    resource, problems = reevaluate(config, "schedule.s",
                                    {"acr_repository.app": {"id": "cr-1"}}.get)
    assert resource.attributes["branch"] == "cr-1"
    assert len(config.diagnostics) == 1
    assert len(problems) == 1

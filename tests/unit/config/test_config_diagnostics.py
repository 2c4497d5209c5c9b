"""Every kind of user mistake in a config is a diagnostic with its file, line and column."""

from __future__ import annotations

import pytest

from flowplan.diagnostics import Severity


def located(config) -> list[tuple[str, str]]:
    """Every diagnostic as ("file:line:col", summary), in file order."""
    return [(str(d.range), d.summary) for d in config.diagnostics.sorted()]


def only(config):
    """The single diagnostic of a config that should have exactly one."""
    items = list(config.diagnostics)
    assert len(items) == 1, [(str(d.range), d.summary, d.detail) for d in items]
    return items[0]


def in_task(body: str) -> str:
    """A pipeline whose task "t" holds `body` (indented 6 spaces); `body` starts on line 4."""
    return ('pipeline "p" {\n  stage "s" {\n    task "t" {\n' + body + "    }\n  }\n}\n")


# -- syntax -------------------------------------------------------------------------------------

def test_syntax_error_points_at_the_unexpected_token(load):
    config = load("""\
        locals {
          a = [1, 2
          b = 3
        }
    """)
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:3:3", "Invalid syntax")
    assert diagnostic.severity is Severity.ERROR
    assert diagnostic.detail.startswith("Unexpected 'b'.")


def test_syntax_error_in_one_file_does_not_hide_mistakes_in_another(load):
    config = load({
        "a.hcl": 'locals {\n  x = "a" "b"\n}\n',
        "b.hcl": 'source "s" {\n  ur = "x"\n}\n',
    })
    assert located(config) == [
        ("a.hcl:2:11", "Invalid syntax"),
        ("b.hcl:1:1", "Missing required argument"),
        ("b.hcl:2:3", "Unsupported argument"),
    ]


def test_unexpected_end_of_file_points_at_the_end_of_the_last_line(load):
    config = load('source "s" {\n  url = "u"\n')
    assert str(only(config).range) == "main.hcl:2:12"


# -- blocks and labels ----------------------------------------------------------------------------

def test_unknown_top_level_block_suggests_the_closest_block_type(load):
    config = load('locals {\n}\n\npipline "app" {\n}\n')
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:4:1",
                                                           "Unsupported block type")
    assert 'There is no block type "pipline". Did you mean "pipeline"?' in diagnostic.detail


def test_unknown_nested_block_suggests_the_closest_block_type(load):
    config = load(in_task('      stp "x" {\n      }\n'))
    diagnostic = only(config)
    assert str(diagnostic.range) == "main.hcl:4:7"
    assert diagnostic.summary == "Unsupported block type"
    assert 'task "t" has no block type "stp". Did you mean "step"?' in diagnostic.detail
    assert diagnostic.address == "pipeline.p"


def test_unquoted_label_is_an_error_at_the_label(load):
    config = load('pipeline app {\n}\n')
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:1:10",
                                                           "Unquoted block label")
    assert 'write pipeline "app" { ... }' in diagnostic.detail
    assert config.resources == {}


def test_unquoted_label_of_a_nested_block_is_an_error(load):
    config = load('pipeline "p" {\n  stage build {\n  }\n}\n')
    assert located(config) == [("main.hcl:2:9", "Unquoted block label")]


@pytest.mark.parametrize("header, line_col", [
    ('pipeline "a" "b" {', "main.hcl:1:1"),
    ("pipeline {", "main.hcl:1:1"),
    ('locals "x" {', "main.hcl:1:1"),
])
def test_wrong_number_of_labels_on_a_top_level_block(load, header, line_col):
    config = load(header + "\n}\n")
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == (line_col,
                                                           "Wrong number of block labels")


def test_wrong_number_of_labels_on_a_nested_block(load):
    config = load('pipeline "p" {\n  stage {\n  }\n  cache "a" "b" {\n  }\n}\n')
    assert located(config) == [("main.hcl:2:3", "Wrong number of block labels"),
                               ("main.hcl:4:3", "Wrong number of block labels")]
    assert 'stage "NAME" { ... }' in config.diagnostics.sorted()[0].detail


def test_resource_name_that_is_not_an_identifier_is_an_error(load):
    config = load('pipeline "a.b" {\n}\nsource "x y" {\n  url = "u"\n}\n')
    assert located(config) == [("main.hcl:1:10", "Invalid name"),
                               ("main.hcl:3:8", "Invalid name")]


# -- attributes -----------------------------------------------------------------------------------

def test_unknown_attribute_suggests_the_closest_argument(load):
    config = load('source "app" {\n  url = "u"\n  brnch = "main"\n}\n')
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:3:3",
                                                           "Unsupported argument")
    assert 'source "app" has no argument "brnch". Did you mean "branch"?' in diagnostic.detail


def test_unknown_attribute_of_a_step_is_checked_against_its_step_type(load):
    config = load(in_task('      step "x" {\n        type = "archive"\n        name = "a"\n'
                          '        paths = ["a"]\n        run = "make"\n      }\n'))
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:8:9",
                                                           "Unsupported argument")
    assert 'step "x" has no argument "run"' in diagnostic.detail


def test_unknown_attribute_of_a_variable_suggests_the_closest_argument(load):
    config = load('variable "x" {\n  defualt = 1\n}\n')
    diagnostics = [d for d in config.diagnostics if d.summary == "Unsupported argument"]
    assert str(diagnostics[0].range) == "main.hcl:2:3"
    assert 'Did you mean "default"?' in diagnostics[0].detail


def test_attribute_written_as_block_and_block_written_as_attribute(load):
    config = load('pipeline "p" {\n  stage = {}\n  description {\n  }\n}\n')
    assert located(config) == [("main.hcl:2:3", "Unsupported argument"),
                               ("main.hcl:3:3", "Unsupported block type")]


def test_top_level_attribute_is_an_error(load):
    config = load('\nname = "x"\n')
    assert located(config) == [("main.hcl:2:1", "Unexpected argument")]


def test_string_for_a_number_is_a_type_error_at_the_value(load):
    config = load(in_task('      retries = "x"\n'))
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:4:17", "Invalid value")
    assert 'task "t": "retries"' in diagnostic.detail and "integer" in diagnostic.detail


def test_port_out_of_range_is_a_type_error_at_the_value(load):
    config = load("""\
        deployment_group "daily" {
          environment = "daily"
          host "web1" {
            address = "127.0.0.5"
            port    = 99999
          }
        }
    """)
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:5:15", "Invalid value")
    assert '"port"' in diagnostic.detail and "65535" in diagnostic.detail


@pytest.mark.parametrize("line, expected", [
    ('  visibility = "secret"', "'private' or 'public'"),
    ("  summary = [1]", "valid string"),
    ("  description = {a = 1}", "valid string"),
])
def test_values_of_the_wrong_type_are_errors_at_the_value(load, line, expected):
    config = load(f'acr_repository "r" {{\n  namespace = "n"\n  name = "r"\n{line}\n}}\n')
    diagnostic = only(config)
    assert diagnostic.summary == "Invalid value" and expected in diagnostic.detail
    assert (diagnostic.range.line, diagnostic.range.column) == (4, line.index("=") + 3)


def test_missing_required_attribute_points_at_the_block(load):
    config = load('locals {\n}\n\nacr_namespace "team" {\n  name = "team"\n}\n')
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:4:1",
                                                           "Missing required argument")
    assert 'acr_namespace.team needs the argument "instance_id"' in diagnostic.detail
    assert diagnostic.address == "acr_namespace.team"


def test_missing_required_attribute_of_a_nested_block_points_at_that_block(load):
    config = load('pipeline "p" {\n  cache "m2" {\n    key = "maven"\n  }\n}\n')
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:2:3",
                                                           "Missing required argument")
    assert '"paths"' in diagnostic.detail


def test_attribute_that_fails_to_evaluate_is_not_also_reported_missing(load):
    config = load('acr_namespace "n" {\n  name = lower(1, 2)\n  instance_id = "i"\n}\n')
    assert located(config) == [("main.hcl:2:10", "Invalid function arguments")]


def test_wrong_argument_count_message_names_the_function_not_python_internals(load):
    config = load('locals {\n  a = lower("A", "B")\n}\n')
    detail = only(config).detail
    assert "lambda" not in detail and "positional" not in detail


def test_duplicate_attribute_in_one_block_is_reported_at_the_second(load):
    config = load('source "app" {\n  url = "a"\n  branch = "x"\n  url = "b"\n}\n')
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:4:3",
                                                           "Duplicate attribute")
    assert "already set at line 2" in diagnostic.detail


def test_duplicate_attribute_in_a_nested_step_block_is_reported(load):
    config = load(in_task('      step "x" {\n        type = "command"\n        run = "a"\n'
                          '        run = "b"\n      }\n'))
    assert located(config) == [("main.hcl:7:9", "Duplicate attribute")]


def test_duplicate_local_in_two_locals_blocks_is_reported(load):
    config = load({"a.hcl": "locals {\n  x = 1\n}\n", "b.hcl": "locals {\n  y = 1\n  x = 2\n}\n"})
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("b.hcl:3:3", "Duplicate name")
    assert "local.x is already declared at a.hcl:2" in diagnostic.detail


def test_duplicate_resource_name_across_files_points_at_the_second_and_names_the_first(load):
    repository = 'acr_repository "app" {\n  namespace = "n"\n  name = "app"\n}\n'
    config = load({"a.hcl": "\n" + repository, "b.hcl": "locals {\n}\n\n" + repository})
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("b.hcl:4:1", "Duplicate name")
    assert "acr_repository.app is already declared at a.hcl:2" in diagnostic.detail
    assert diagnostic.address == "acr_repository.app"


def test_duplicate_nested_block_label_is_reported(load):
    config = load('pipeline "p" {\n  stage "s" {\n  }\n  stage "s" {\n  }\n}\n')
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:4:3", "Duplicate block")


def test_second_flowplan_block_and_second_provider_block_are_reported(load):
    config = load({"a.hcl": 'flowplan {\n}\nprovider "x" {\n}\n',
                   "b.hcl": 'provider "x" {\n}\nflowplan {\n}\n'})
    assert located(config) == [("b.hcl:1:1", "Duplicate provider block"),
                               ("b.hcl:3:1", "Duplicate flowplan block")]


# -- steps, tasks, durations ------------------------------------------------------------------------

def test_unknown_step_type_lists_the_known_ones(load):
    config = load(in_task('      step "x" {\n        type = "comand"\n      }\n'))
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:5:9", "Unknown step type")
    assert '"comand" is not a step type' in diagnostic.detail
    assert ("Known step types: archive, command, download_artifact, host_deploy, image_build, "
            "java_build, java_code_scan, kubectl_apply, manual_approval, maven_unit_test, "
            "nodejs_build, nodejs_test.") in diagnostic.detail


def test_step_without_type_is_missing_a_required_argument(load):
    config = load(in_task('      step "x" {\n        run = "make"\n      }\n'))
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:4:7",
                                                           "Missing required argument")
    assert "command" in diagnostic.detail


def test_step_type_from_a_run_time_value_says_the_type_must_be_a_literal(load):
    config = load(in_task('      step "x" {\n        type = run.branch\n      }\n'))
    assert "Unknown(" not in only(config).detail


def test_needs_naming_a_missing_task_is_an_error(load):
    config = load(in_task('      needs = ["build"]\n'))
    diagnostic = only(config)
    assert diagnostic.summary == "Invalid task order"
    assert 'task "t" needs "build", which is not a task of stage "s"' in diagnostic.detail


def test_needs_cycle_names_every_task_of_the_cycle(load):
    config = load("""\
        pipeline "p" {
          stage "s" {
            task "a" {
              needs = ["c"]
            }
            task "b" {
              needs = ["a"]
            }
            task "c" {
              needs = ["b"]
            }
            task "d" {
            }
          }
        }
    """)
    diagnostic = only(config)
    assert diagnostic.summary == "Invalid task order"
    assert "need each other in a cycle: a -> c -> b -> a" in diagnostic.detail


def test_needs_naming_a_missing_task_points_at_the_needs_argument(load):
    config = load(in_task('      needs = ["build"]\n'))
    assert str(only(config).range) == "main.hcl:4:7"


@pytest.mark.parametrize("body, line_col", [
    ('      timeout = "10 minutes"\n', "main.hcl:4:17"),
    ('      step "x" {\n        type = "command"\n        run = "a"\n'
     '        timeout = "5x"\n      }\n', "main.hcl:7:19"),
    ('      step "x" {\n        type = "manual_approval"\n        timeout = "1d"\n      }\n',
     "main.hcl:6:19"),
])
def test_invalid_duration_is_an_error_at_the_value(load, body, line_col):
    config = load(in_task(body))
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == (line_col, "Invalid value")
    assert "is not a duration; write e.g. 30s, 10m or 1h30m" in diagnostic.detail


def test_valid_durations_are_accepted(load):
    config = load(in_task('      timeout = "1h30m"\n      step "x" {\n        type = "command"\n'
                          '        run = "a"\n        timeout = "45s"\n      }\n'))
    assert list(config.diagnostics) == []


# -- references -----------------------------------------------------------------------------------

def test_undefined_references_of_each_kind_are_errors_at_the_reference(load):
    config = load("""\
        variable "name" {
          default = "x"
        }
        locals {
          a = var.nmae
          b = local.nope
          c = source.nope.url
          d = acr_repository.nope.id
        }
    """)
    assert located(config) == [
        ("main.hcl:5:7", "Reference to undeclared input variable"),
        ("main.hcl:6:7", "Reference to undeclared local value"),
        ("main.hcl:7:7", "Reference to undeclared source"),
        ("main.hcl:8:7", "Reference to undeclared resource"),
    ]
    first = config.diagnostics.sorted()[0]
    assert "var.nmae is not declared. Did you mean var.name?" in first.detail
    assert first.address == "local.a"


def test_undefined_reference_inside_an_interpolation_points_at_the_reference(load):
    config = load('source "s" {\n  url = "https://${var.host}/x.git"\n}\n')
    assert located(config) == [("main.hcl:2:20", "Reference to undeclared input variable")]


def test_reference_to_a_missing_pipeline_from_a_schedule(load):
    config = load('schedule "s" {\n  pipeline = pipeline.nope\n  cron = "* * * * *"\n}\n')
    assert located(config) == [("main.hcl:2:14", "Reference to undeclared resource")]


def test_reference_to_an_unknown_attribute_of_a_source_is_an_error(load):
    config = load('source "s" {\n  url = "u"\n}\nlocals {\n  x = source.s.ur\n}\n')
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:5:7",
                                                           "Unsupported attribute")


def test_reference_to_an_unknown_root_is_reported_once(load):
    config = load("locals {\n  e = foo.bar\n}\n")
    assert located(config) == [("main.hcl:2:7", "Reference to undeclared name")]


def test_reference_to_an_attribute_a_resource_does_not_have_is_an_error(load):
    config = load('acr_namespace "n" {\n  name = "a"\n  instance_id = "i"\n}\n'
                  'locals {\n  x = acr_namespace.n.nmae\n}\n')
    assert located(config) == [("main.hcl:6:7", "Unsupported attribute")]


def test_undefined_reference_in_a_provider_block_is_an_error(load):
    config = load('provider "alicloud" {\n  region = var.nope\n}\n')
    assert located(config) == [("main.hcl:2:12", "Reference to undeclared input variable")]


def test_reference_cycle_between_locals_names_every_member(load):
    config = load("""\
        locals {
          ok = 1
          a  = local.b
          b  = "${local.c}-x"
          c  = upper(local.a)
        }
    """)
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:3:3", "Reference cycle")
    for member in ("local.a", "local.b", "local.c"):
        assert member in diagnostic.detail
    assert "local.ok" not in diagnostic.detail


def test_local_referring_to_itself_is_a_cycle(load):
    config = load("locals {\n  a = local.a\n}\n")
    assert "local.a -> local.a" in only(config).detail


def test_reference_cycle_between_resources_names_every_member(load):
    config = load({
        "a.hcl": 'acr_namespace "n" {\n  name = acr_repository.r.name\n  instance_id = "i"\n}\n',
        "b.hcl": ('acr_repository "r" {\n  namespace = acr_namespace.n.name\n'
                  '  name = "${webhook.w.pipeline}"\n}\n'
                  'webhook "w" {\n  pipeline = pipeline.p\n  depends_on = [acr_namespace.n]\n}\n'
                  'pipeline "p" {\n}\n'),
    })
    cycles = [d for d in config.diagnostics if d.summary == "Reference cycle"]
    assert len(cycles) == 1
    for member in ("acr_namespace.n", "acr_repository.r", "webhook.w"):
        assert member in cycles[0].detail
    assert "pipeline.p" not in cycles[0].detail
    assert str(cycles[0].range) in ("a.hcl:1:1", "b.hcl:1:1", "b.hcl:5:1")


def test_reference_cycle_does_not_hide_other_mistakes(load):
    config = load('locals {\n  a = local.b\n  b = local.a\n}\nsource "s" {\n  ur = "x"\n}\n')
    assert located(config) == [("main.hcl:2:3", "Reference cycle"),
                               ("main.hcl:5:1", "Missing required argument"),
                               ("main.hcl:6:3", "Unsupported argument")]


def test_missing_required_variable_points_at_the_variable_block(load):
    config = load('locals {\n}\nvariable "region" {\n  type = string\n}\n')
    diagnostic = only(config)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:3:1",
                                                           "No value for required variable")
    assert "--var region=VALUE" in diagnostic.detail and "FP_VAR_region" in diagnostic.detail
    assert diagnostic.address == "var.region"


def test_run_value_outside_a_pipeline_is_an_error(load):
    config = load('locals {\n  a = run.branch\n}\n')
    assert ("main.hcl:2:7", "Run-time value outside a pipeline") in located(config)


def test_run_value_outside_a_pipeline_is_reported_once(load):
    config = load('acr_namespace "n" {\n  name = steps.x.y\n  instance_id = "i"\n}\n')
    assert located(config) == [("main.hcl:2:10", "Run-time value outside a pipeline")]


def test_run_value_inside_a_pipeline_is_accepted(load):
    config = load(in_task('      step "x" {\n        type = "command"\n'
                          '        run = "echo ${run.branch} ${steps.x.out}"\n      }\n'))
    assert list(config.diagnostics) == []


def test_depends_on_must_list_resources(load):
    config = load('locals {\n  a = 1\n}\npipeline "p" {\n  depends_on = [local.a]\n}\n')
    assert located(config) == [("main.hcl:5:16", "Invalid depends_on")]


def test_resource_reference_of_the_wrong_kind_is_an_error(load):
    config = load('schedule "s" {\n  pipeline = "p"\n  cron = "* * * * *"\n}\n')
    assert located(config) == [("main.hcl:2:14", "Invalid reference")]


# -- all at once ----------------------------------------------------------------------------------

def test_every_mistake_in_a_config_is_reported_at_once(load):
    config = load({
        "main.hcl": """\
            pipline "x" {
            }

            source "app" {
              url    = "https://example.com/app.git"
              brnch  = "main"
            }

            variable "token" {
            }

            acr_namespace "team" {
              name = "team"
            }

            deployment_group "daily" {
              environment = var.envrionment
              host "web1" {
                address = "127.0.0.5"
                port    = 99999
              }
            }
        """,
        "pipeline.hcl": """\
            pipeline "app" {
              stage "test" {
                task "unit" {
                  retries = "x"
                  timeout = "soon"
                  step "mvn" {
                    type = "maven"
                  }
                  step "sh" {
                    type = "command"
                    run  = "a"
                    run  = "b"
                  }
                }
              }
            }

            source "app" {
              url = "u"
            }
        """,
    })
    assert located(config) == [
        ("main.hcl:1:1", "Unsupported block type"),
        ("main.hcl:6:3", "Unsupported argument"),
        ("main.hcl:9:1", "No value for required variable"),
        ("main.hcl:12:1", "Missing required argument"),
        ("main.hcl:17:17", "Reference to undeclared input variable"),
        ("main.hcl:20:15", "Invalid value"),
        ("pipeline.hcl:4:17", "Invalid value"),
        ("pipeline.hcl:5:17", "Invalid value"),
        ("pipeline.hcl:7:9", "Unknown step type"),
        ("pipeline.hcl:12:9", "Duplicate attribute"),
        ("pipeline.hcl:18:1", "Duplicate name"),
    ]
    assert len(config.diagnostics) == 11
    assert config.diagnostics.has_errors


def test_positions_are_right_with_windows_line_endings_and_tabs(load):
    config = load({"main.hcl": "locals {\r\n  a = 1\r\n\tb = var.nope\r\n}\r\n"})
    assert located(config) == [("main.hcl:3:6", "Reference to undeclared input variable")]


def test_path_config_and_path_cwd_are_known_and_other_paths_are_not(load, config_dir):
    config = load('locals {\n  dir = path.config\n  cwd = path.cwd\n'
                  '  script = "${path.config}/deploy.sh"\n  bad = path.home\n}\n')
    assert located(config) == [("main.hcl:5:9", "Invalid reference")]
    assert config.locals["dir"] == str(config_dir.resolve())
    assert config.locals["cwd"] == str(config_dir)
    assert config.locals["script"] == f"{config_dir.resolve()}/deploy.sh"


def test_positions_inside_multi_line_expressions(load):
    config = load("""\
        locals {
          a = [
            1,
            var.nope,
          ]
          b = format(
            "%s",
            local.nope
          )
          c = {
            k = source.nope.url
          }
          d = true ? 1 : acr_repository.nope.id
        }
    """)
    assert located(config) == [
        ("main.hcl:4:5", "Reference to undeclared input variable"),
        ("main.hcl:8:5", "Reference to undeclared local value"),
        ("main.hcl:11:9", "Reference to undeclared source"),
        ("main.hcl:13:18", "Reference to undeclared resource"),
    ]

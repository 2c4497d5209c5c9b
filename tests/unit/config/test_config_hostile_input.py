"""Config input that would break a run or the tool itself is refused when the config is loaded
(so `flowplan validate` reports it) with a located diagnostic: attributes that shape a run but are
known only at run time, stage/task/step names that cannot name a directory, oversized files, and
long lines in diagnostics. Sensitive values inside maps are accepted."""

from __future__ import annotations

import json

import pytest

from flowplan.config import files as config_files
from flowplan.views import render_diagnostics

TOKEN = 'variable "token" {\n  sensitive = true\n  default = "hunter2"\n}\n'


def pipeline(stage_attributes: str = "", task_attributes: str = "",
             pipeline_attributes: str = "", stage: str = "s", task: str = "t",
             step: str = "x") -> str:
    return (TOKEN + f'pipeline "p" {{\n{pipeline_attributes}'
            f'  stage "{stage}" {{\n{stage_attributes}'
            f'    task "{task}" {{\n{task_attributes}'
            f'      step "{step}" {{\n        type = "command"\n        run = "true"\n'
            "      }\n    }\n  }\n}\n")


def problems(config) -> list[tuple[str, str]]:
    return [(str(d.range), d.summary) for d in config.diagnostics]


@pytest.mark.parametrize("where, text, line", [
    ("pipeline", "  parallelism = run.number\n", 6),
    ("stage", '    trigger = run.branch == "main" ? "manual" : "auto"\n', 7),
    ("task", '      needs = [run.branch]\n', 8),
    ("task", '      timeout = "${run.number}m"\n', 8),
    ("task", "      retries = run.number\n", 8),
    ("task", '      allow_failure = run.branch != "main"\n', 8),
    ("task", '      timeout = "${length(var.token)}m"\n', 8),
])
def test_an_attribute_that_shapes_the_run_must_be_known_at_plan_time(load, where, text, line):
    arguments = {"pipeline": "pipeline_attributes", "stage": "stage_attributes",
                 "task": "task_attributes"}[where]
    config = load(pipeline(**{arguments: text}))
    name = text.split("=")[0].strip()
    assert problems(config) == [(f"main.hcl:{line}:{len(text) - len(text.lstrip()) + 1}",
                                 "Value needed before the run")]
    detail = config.diagnostics.items[0].detail
    assert f'"{name}" shapes the run' in detail
    assert "hunter2" not in detail


def test_when_and_step_attributes_may_wait_for_the_run(load):
    config = load(pipeline(task_attributes='      when = run.branch == "main"\n'))
    assert problems(config) == []


def test_a_plan_time_value_for_an_attribute_that_shapes_the_run_is_fine(load):
    prelude = 'variable "n" {\n  default = 2\n}\n'
    config = load(prelude + pipeline(task_attributes="      retries = var.n\n"))
    assert problems(config) == []
    task = config.resources["pipeline.p"].attributes["stages"]["s"]["tasks"]["t"]
    assert task["retries"] == 2


@pytest.mark.parametrize("kind", ["stage", "task", "step"])
@pytest.mark.parametrize("name, problem", [
    ("..", "must not start with '.'"),
    (".hidden", "must not start with '.'"),
    ("a/b", "must not hold '/'"),
    ("a\\\\b", "must not hold '\\\\'"),
    ("x" * 300, "at most 255 bytes"),
])
def test_a_name_that_cannot_name_a_directory_is_refused_at_its_label(load, kind, name, problem):
    config = load(pipeline(**{kind: name}))
    found = [d for d in config.diagnostics if d.summary == "Invalid name"]
    assert len(found) == 1, problems(config)
    line = {"stage": 6, "task": 7, "step": 8}[kind]
    assert found[0].range.line == line
    assert problem in found[0].detail
    assert len(found[0].detail) < 200            # a long name is shown cut short


def test_sensitive_values_inside_a_map_of_strings_are_accepted_and_stay_sensitive(load):
    config = load(TOKEN + 'deployment_group "d" {\n  environment = "dev"\n'
                  '  host "h" {\n    address = "127.0.0.1"\n'
                  '    labels = { token = var.token, plain = "x" }\n  }\n}\n')
    assert problems(config) == []
    from flowplan.values import Sensitive, to_markers

    labels = config.resources["deployment_group.d"].attributes["host"]["h"]["labels"]
    assert labels["plain"] == "x" and isinstance(labels["token"], Sensitive)
    assert "hunter2" not in json.dumps(to_markers(labels))


def test_a_config_file_over_the_size_limit_is_refused_before_parsing(load, config_dir,
                                                                     monkeypatch):
    monkeypatch.setattr(config_files, "MAX_FILE_BYTES", 1000)
    (config_dir / "big.hcl").write_text("# " + "x" * 2000 + "\n")
    config = load('locals {\n  a = 1\n}\n')
    assert problems(config) == [("big.hcl:1:1", "Config file too large")]
    assert "Split it into several *.hcl files" in config.diagnostics.items[0].detail


def test_the_size_limit_is_ten_mebibytes():
    assert config_files.MAX_FILE_BYTES == 10 * 1024 * 1024


def test_a_diagnostic_on_a_very_long_line_shows_a_short_excerpt(load):
    filler = ", ".join(f'"v{i}"' for i in range(3000))
    config = load(f"locals {{\n  a = [{filler}, nope.x]\n}}\n")
    assert [d.summary for d in config.diagnostics] == ["Reference to undeclared name"]
    text = render_diagnostics(config.diagnostics, config.texts, color=False)
    longest = max(len(line) for line in text.splitlines())
    assert longest < 200
    source, caret = text.splitlines()[-2:]
    assert "nope.x" in source
    assert source.index("nope.x") == caret.index("^")

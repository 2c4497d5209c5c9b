"""host_deploy steps as the loader reads them: the group by reference or by name, and the
mistakes reported at their line before anything runs."""

from __future__ import annotations

import textwrap

import pytest

from flowplan.config.loader import load_config

GROUP = """
deployment_group "web" {
  environment = "test"
  host "here" {
    connection = "local"
  }
}

pipeline "other" {
}
"""


def load(tmp_path, step: str):
    hcl = GROUP + textwrap.dedent("""
        pipeline "app" {
          stage "deploy" {
            task "hosts" {
              step "deploy" {
                type          = "host_deploy"
                artifact      = "package"
                download_path = "app"
                script        = "./install.sh"
        %s
              }
            }
          }
        }
        """) % textwrap.indent(textwrap.dedent(step), "        ")
    (tmp_path / "main.hcl").write_text(hcl)
    return load_config(tmp_path, {}, environ={})


def step_of(config) -> dict:
    return config.resources["pipeline.app"].attributes["stages"]["deploy"]["tasks"]["hosts"][
        "steps"]["deploy"]


def problems(config) -> list[str]:
    return [f"{d.range.line}: {d.summary}: {d.detail}" for d in config.diagnostics.errors]


@pytest.mark.parametrize("written", ['deployment_group.web', '"web"',
                                     '"deployment_group.web"'])
def test_the_group_is_taken_by_reference_or_by_name_and_kept_as_its_address(tmp_path, written):
    config = load(tmp_path, f"deployment_group = {written}")
    assert problems(config) == []
    step = step_of(config)
    assert step["deployment_group"] == "deployment_group.web"
    if written == "deployment_group.web":           # a reference: the group is applied first
        assert config.resources["pipeline.app"].dependencies == ["deployment_group.web"]
    assert (step["batches"], step["batch_size"], step["pause"], step["timeout"],
            step["health_check_timeout"], step["keep_releases"]) == (1, None, "none", "10m",
                                                                      "60s", 5)


def test_batches_and_batch_size_together_are_refused_at_the_step(tmp_path):
    config = load(tmp_path, "deployment_group = deployment_group.web\nbatches = 2\n"
                            "batch_size = 3")
    assert problems(config) == ['15: Invalid step: step "deploy": give either `batches` or '
                                '`batch_size`, not both']


@pytest.mark.parametrize("attribute, message", [
    ('pause = "sometimes"', "\"pause\": Input should be 'first_batch', 'every_batch' or "
                            "'none'"),
    ('timeout = "soon"', "\"timeout\": 'soon' is not a duration; write e.g. 30s, 10m or 1h30m"),
    ('health_check_timeout = "1 minute"', '"health_check_timeout": \'1 minute\' is not a '
                                          'duration'),
    ("keep_releases = 0", '"keep_releases": Input should be greater than or equal to 1'),
    ("parallel = 0", '"parallel": Input should be greater than or equal to 1'),
])
def test_a_wrong_attribute_is_refused_at_its_line(tmp_path, attribute, message):
    config = load(tmp_path, f"deployment_group = deployment_group.web\n{attribute}")
    found = problems(config)
    assert len(found) == 1 and message in found[0], found


def test_a_reference_to_something_else_than_a_group_is_refused(tmp_path):
    config = load(tmp_path, "deployment_group = pipeline.other")
    assert any('"deployment_group" takes a reference to a deployment_group, like '
               'deployment_group.NAME or its name ("NAME")' in p for p in problems(config))

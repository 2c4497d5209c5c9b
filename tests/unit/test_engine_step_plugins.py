"""A step-type plugin that fails to load is a diagnostic, never a traceback: a warning for
validate and plan, a located error on a step of its type (and, for a run, a warning: the run
fails that step alone)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from fake_distribution import forget_step_types, install  # noqa: E402

from flowplan import engine  # noqa: E402
from flowplan.diagnostics import DiagnosticsError  # noqa: E402
from flowplan.providers import ProviderRegistry  # noqa: E402
from providers.flowplan import FlowplanProvider  # noqa: E402

PLAIN = """\
    pipeline "app" {
      stage "build" {
        task "package" {
          step "sh" {
            type = "command"
            run  = "make"
          }
        }
      }
    }
"""

USES_BROKEN = """\
    pipeline "app" {
      stage "build" {
        task "package" {
          step "sh" {
            type = "command"
            run  = "make"
          }
        }
        task "deploy" {
          step "ship" {
            type   = "helm_deploy"
            chart  = "app"
          }
        }
      }
    }
"""


@pytest.fixture
def broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An installed distribution whose `helm_deploy` step type imports a module that raises."""
    root = install(tmp_path / "site", "flowplan-helm", {
        "flowplan.step_types": {"helm_deploy": "flowplan_test_plugin_helm:HelmDeploy"}},
        {"flowplan_test_plugin_helm": "import kubernetes_sdk_that_is_not_there\n"})
    monkeypatch.syspath_prepend(str(root))
    forget_step_types()
    yield
    monkeypatch.undo()
    forget_step_types()


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    monkeypatch.chdir(directory)
    return directory


def write(directory: Path, text: str) -> None:
    (directory / "main.hcl").write_text(textwrap.dedent(text), encoding="utf-8")


def registry() -> ProviderRegistry:
    return ProviderRegistry({"flowplan": FlowplanProvider}, environ={})


def plugin_warning(diagnostics) -> str:
    [warning] = [d for d in diagnostics if d.severity.value == "warning"]
    assert warning.summary == 'Step type plugin "helm_deploy" failed to load'
    assert warning.range is None
    return warning.detail


def test_validate_warns_about_a_broken_step_type_plugin_and_still_succeeds(config_dir,
                                                                         broken_plugin):
    write(config_dir, PLAIN)
    workspace = engine.validate(config_dir, environ={}, registry=registry())
    assert plugin_warning(workspace.config.diagnostics) == (
        'Step type plugin "helm_deploy" (flowplan_test_plugin_helm:HelmDeploy) failed to load: '
        "ModuleNotFoundError: No module named 'kubernetes_sdk_that_is_not_there'. Steps of type "
        '"helm_deploy" cannot be checked or run until it loads.')


def test_plan_warns_about_a_broken_step_type_plugin_and_plans(config_dir, broken_plugin):
    write(config_dir, PLAIN)
    workspace = engine.load(config_dir, environ={}, registry=registry())
    plugin_warning(workspace.config.diagnostics)
    the_plan = engine.plan(workspace)
    assert [c.address for c in the_plan.changes] == ["pipeline.app"]


@pytest.mark.parametrize("operation", ["validate", "plan"])
def test_a_step_of_the_broken_type_gets_a_located_error_not_unknown_step_type(
        config_dir, broken_plugin, operation):
    write(config_dir, USES_BROKEN)
    with pytest.raises(DiagnosticsError) as caught:
        if operation == "validate":
            engine.validate(config_dir, environ={}, registry=registry())
        else:
            engine.plan(engine.load(config_dir, environ={}, registry=registry()))
    [error] = [d for d in caught.value.diagnostics if d.severity.value == "error"]
    assert (error.summary, str(error.range), error.address) == \
        ("Step type plugin failed to load", "main.hcl:11:9", "pipeline.app")
    assert error.detail == (
        'step "ship": step type "helm_deploy" comes from the plugin '
        "flowplan_test_plugin_helm:HelmDeploy, which failed to load: ModuleNotFoundError: No "
        "module named 'kubernetes_sdk_that_is_not_there'.")
    plugin_warning(caught.value.diagnostics)


def test_a_run_loads_a_config_using_the_broken_type_with_the_step_left_to_fail(config_dir,
                                                                               broken_plugin):
    write(config_dir, USES_BROKEN)
    workspace = engine.load(config_dir, environ={}, registry=registry(), for_run=True)
    assert not workspace.config.diagnostics.has_errors
    located = [d for d in workspace.config.diagnostics if d.range is not None]
    assert [(d.severity.value, d.summary) for d in located] == \
        [("warning", "Step type plugin failed to load")]
    steps = workspace.config.resources["pipeline.app"].attributes["stages"]["build"]["tasks"]
    assert steps["deploy"]["steps"]["ship"]["type"] == "helm_deploy"
    assert steps["package"]["steps"]["sh"]["run"] == "make"

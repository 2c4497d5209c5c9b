"""The step-type registry: core's step types, and providers' through entry points."""

from __future__ import annotations

from conftest import log_text, make_service, pipeline, stage, steps_of, task

from flowplan.config.schema import Step
from flowplan.executor import step_type as registry
from flowplan.executor.status import Status
from flowplan.executor.step_type import StepContext, StepResult


class GreetStep(Step):
    name: str


class GreetStepType:
    """A provider's step type: says hello into the log and returns an output."""

    name = "greet"
    config_model = GreetStep

    def run(self, context: StepContext) -> StepResult:
        context.log.say(f"hello {context.config.name} from {context.workspace.name}", 0.0)
        return StepResult(Status.SUCCEEDED, outputs={"greeted": context.config.name})


def clear_registry() -> None:
    registry.step_types.cache_clear()
    registry.step_type.cache_clear()


class FakeEntryPoint:
    name = "greet"

    def load(self):
        return GreetStepType


def test_core_step_types_are_registered():
    assert {"command", "archive", "manual_approval"} <= set(registry.step_types())


def test_a_provider_step_type_runs_through_its_entry_point(service, monkeypatch):
    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEntryPoint()])
    clear_registry()
    try:
        definition = pipeline({"s": stage({"t": task(("hi", {"type": "greet",
                                                             "name": "world"}))})})
        assert service.start("app", definition).status == Status.SUCCEEDED
        assert log_text(service, "app#1") == ["hello world from t"]
        assert steps_of(service, "app#1")[("t", "hi")].outputs == {"greeted": "world"}
    finally:
        clear_registry()


def test_a_step_type_that_raises_fails_only_its_step(service, monkeypatch):
    class Broken(GreetStepType):
        def run(self, context):
            raise RuntimeError("boom")

    class BrokenEntryPoint(FakeEntryPoint):
        def load(self):
            return Broken

    monkeypatch.setattr(registry, "entry_points", lambda group: [BrokenEntryPoint()])
    clear_registry()
    try:
        definition = pipeline({"s": stage({"t": task(("hi", {"type": "greet",
                                                             "name": "x"}))})})
        assert service.start("app", definition).status == Status.FAILED
        assert steps_of(service, "app#1")[("t", "hi")].error == \
            "step type greet failed: RuntimeError: boom"
    finally:
        clear_registry()


def test_a_broken_plugin_fails_only_steps_of_its_own_type(service, monkeypatch):
    class NotAStepType:
        name = "greet"               # no config_model, no run()

    class BadEntryPoint(FakeEntryPoint):
        def load(self):
            return NotAStepType

    monkeypatch.setattr(registry, "entry_points", lambda group: [BadEntryPoint()])
    clear_registry()
    try:
        definition = pipeline({"s": stage({
            "plain": task(("sh", {"type": "command", "run": "echo fine"})),
            "plugin": task(("hi", {"type": "greet", "name": "x"}))})})
        assert service.start("app", definition).status == Status.FAILED
        steps = steps_of(service, "app#1")
        assert steps[("plain", "sh")].status == "succeeded"
        assert "step type 'greet' cannot be loaded" in steps[("plugin", "hi")].error
    finally:
        clear_registry()


def test_a_plugin_that_fails_to_import_fails_only_its_steps_in_a_run_of_the_config(
        service, config_dir, tmp_path, monkeypatch):
    import sys
    import textwrap
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "support"))
    from fake_distribution import forget_step_types, install

    from flowplan import engine
    from flowplan.providers import ProviderRegistry
    from flowplan.values import to_markers
    from providers.flowplan import FlowplanProvider

    root = install(tmp_path / "site", "flowplan-helm", {
        "flowplan.step_types": {"helm_deploy": "flowplan_test_plugin_helm:HelmDeploy"}},
        {"flowplan_test_plugin_helm": "raise ImportError('helm SDK missing')\n"})
    monkeypatch.syspath_prepend(str(root))
    forget_step_types()
    try:
        (config_dir / "main.hcl").write_text(textwrap.dedent("""\
            pipeline "app" {
              stage "s" {
                task "plain" {
                  step "sh" {
                    type = "command"
                    run  = "echo fine"
                  }
                }
                task "plugin" {
                  step "ship" {
                    type  = "helm_deploy"
                    chart = "app"
                  }
                }
              }
            }
        """))
        workspace = engine.load(config_dir, environ={}, for_run=True,
                                registry=ProviderRegistry({"flowplan": FlowplanProvider},
                                                          environ={}))
        definition = to_markers(workspace.config.resources["pipeline.app"].attributes)
        assert service.start("app", definition).status == Status.FAILED
        steps = steps_of(service, "app#1")
        assert steps[("plain", "sh")].status == "succeeded"
        assert steps[("plugin", "ship")].error == \
            "step type 'helm_deploy' cannot be loaded: helm SDK missing"
    finally:
        monkeypatch.undo()
        forget_step_types()


class ReportStepType(GreetStepType):
    """A step type that reports: a summary, a kept report file, what it saw of the settings'
    tools and of its own previous success."""

    name = "report"

    def run(self, context: StepContext) -> StepResult:
        from flowplan.steps.reports import write_report

        previous = context.previous_success()
        seen = "none" if previous is None else f"#{previous.number} {previous.outputs['count']}"
        kept = write_report(context, f"{context.task}.{context.step}.txt", b"report body\n")
        return StepResult(Status.SUCCEEDED, outputs={"count": str(context.run.number)},
                          artifacts=(kept,),
                          summary={"title": f"previous: {seen}",
                                   "lines": [f"jdk 17 at {context.tools['jdk']['17']}"],
                                   "count": context.run.number})


def test_a_step_summary_and_report_are_kept_and_a_later_run_sees_the_previous_success(
        config_dir, monkeypatch):

    from flowplan.views.run_text import render_run_tree, to_json

    class ReportEntryPoint(FakeEntryPoint):
        name = "report"

        def load(self):
            return ReportStepType

    monkeypatch.setattr(registry, "entry_points", lambda group: [ReportEntryPoint()])
    clear_registry()
    try:
        service = make_service(config_dir, tools={"jdk": {"17": "/opt/jdk17"}})
        definition = pipeline({"s": stage({"t": task(("r", {"type": "report",
                                                             "name": "x"}))})})
        for _ in range(2):
            assert service.start("app", definition).status == Status.SUCCEEDED
        first, second = steps_of(service, "app#1")[("t", "r")], steps_of(service, "app#2")[("t", "r")]
        assert first.summary == {"title": "previous: none", "lines": ["jdk 17 at /opt/jdk17"],
                                 "count": 1}
        assert second.summary["title"] == "previous: #1 1"
        tree = service.show("app#2")
        text = render_run_tree(tree)
        assert "        previous: #1 1\n          jdk 17 at /opt/jdk17\n" in text
        artifact, = tree.artifacts
        assert artifact.name == "t.r.txt" and artifact.size == 12
        assert open(artifact.path, "rb").read() == b"report body\n"
        assert '"title": "previous: #1 1"' in to_json(tree)
    finally:
        clear_registry()

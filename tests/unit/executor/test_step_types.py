"""The step-type registry: core's step types, and providers' through entry points."""

from __future__ import annotations

from conftest import pipeline, stage, steps_of, task, log_text

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

"""The celery executor's settings as the config gives them: `executor`, `broker` in the
`flowplan {}` block and a task's `runs_on`, with the mistakes reported as diagnostics."""

from __future__ import annotations

import textwrap
from pathlib import Path

from flowplan.config.loader import load_config
from flowplan.executor.settings import ExecutorSettings

PIPELINE = '''
pipeline "build" {
  stage "main" {
    task "compile" {
      runs_on = "linux-large"
      step "make" {
        type = "command"
        run  = "make"
      }
    }
    task "lint" {
      step "check" {
        type = "command"
        run  = "true"
      }
    }
  }
}
'''


def _load(directory, hcl: str):
    (directory / "main.hcl").write_text(textwrap.dedent(hcl))
    return load_config(directory, {}, environ={})


def test_celery_settings_and_runs_on_reach_the_executor(tmp_path):
    config = _load(tmp_path, 'flowplan {\n  executor = "celery"\n'
                             '  broker = "redis://broker.internal:6379/0"\n}\n' + PIPELINE)

    assert not config.diagnostics.has_errors, config.diagnostics
    settings = ExecutorSettings.from_config(tmp_path, config.settings)
    assert (settings.executor, settings.broker) == ("celery", "redis://broker.internal:6379/0")
    tasks = config.resources["pipeline.build"].attributes["stages"]["main"]["tasks"]
    assert tasks["compile"]["runs_on"] == "linux-large"
    assert tasks["lint"].get("runs_on") is None


def test_executor_defaults_to_local(tmp_path):
    config = _load(tmp_path, PIPELINE)

    settings = ExecutorSettings.from_config(tmp_path, config.settings)
    assert (settings.executor, settings.broker) == ("local", None)


def test_celery_without_a_broker_is_a_diagnostic(tmp_path):
    config = _load(tmp_path, 'flowplan {\n  executor = "celery"\n}\n')

    texts = [f"{d.summary} {d.detail}" for d in config.diagnostics if d.severity.value == "error"]
    assert any('needs the broker\'s address: broker = "redis://HOST:6379/0"' in t
               for t in texts), texts


def test_a_broker_that_is_not_redis_is_a_diagnostic_without_its_password(tmp_path):
    config = _load(tmp_path, 'flowplan {\n  executor = "celery"\n'
                             '  broker = "amqp://guest:hunter2@mq:5672//"\n}\n')

    texts = [f"{d.summary} {d.detail}" for d in config.diagnostics if d.severity.value == "error"]
    assert any("must be a redis:// or rediss:// URL" in t for t in texts), texts
    assert not any("hunter2" in t for t in texts), texts


def test_a_runs_on_that_is_not_a_queue_name_is_a_diagnostic(tmp_path):
    config = _load(tmp_path, PIPELINE.replace('"linux-large"', '"two words"'))

    errors = [d for d in config.diagnostics if d.severity.value == "error"]
    assert errors and any("runs_on" in f"{d.summary} {d.detail} {d.address}" for d in errors), \
        [f"{d.summary} {d.detail}" for d in errors]


def test_heartbeat_settings_in_the_flowplan_block_reach_the_executor(tmp_path):
    config = _load(tmp_path, 'flowplan {\n  executor = "celery"\n'
                             '  broker = "redis://broker.internal:6379/0"\n'
                             '  heartbeat_interval = 0.5\n  heartbeat_timeout = 4\n}\n')

    assert not config.diagnostics.has_errors, config.diagnostics
    settings = ExecutorSettings.from_config(tmp_path, config.settings)
    assert (settings.heartbeat_interval, settings.heartbeat_timeout) == (0.5, 4.0)
    default = ExecutorSettings.from_config(tmp_path, _load(tmp_path, PIPELINE).settings)
    assert (default.heartbeat_interval, default.heartbeat_timeout) == (1.0, 10.0)


def test_a_heartbeat_timeout_shorter_than_two_beats_is_a_diagnostic_at_its_line(tmp_path):
    config = _load(tmp_path, 'flowplan {\n  executor = "celery"\n'
                             '  broker = "redis://broker.internal:6379/0"\n'
                             '  heartbeat_interval = 3\n  heartbeat_timeout = 5\n}\n')

    errors = [d for d in config.diagnostics if d.severity.value == "error"]
    assert len(errors) == 1, errors
    assert "heartbeat_timeout (5 s) must be at least twice heartbeat_interval (3 s)" \
        in errors[0].detail
    assert (Path(errors[0].range.file).name, errors[0].range.line) == ("main.hcl", 5)


def test_heartbeat_settings_that_are_not_positive_numbers_are_diagnostics_at_their_line(
        tmp_path):
    config = _load(tmp_path, 'flowplan {\n  heartbeat_interval = 0\n'
                             '  heartbeat_timeout = "soon"\n}\n')

    errors = sorted((d for d in config.diagnostics if d.severity.value == "error"),
                    key=lambda d: d.range.line)
    assert [(Path(d.range.file).name, d.range.line) for d in errors] == [
        ("main.hcl", 2), ("main.hcl", 3)], [f"{d.summary} {d.detail}" for d in errors]

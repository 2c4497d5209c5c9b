"""The celery executor's settings as the config gives them: `executor`, `broker` in the
`flowplan {}` block and a task's `runs_on`, with the mistakes reported as diagnostics."""

from __future__ import annotations

import textwrap

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

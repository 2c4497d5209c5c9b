"""`flowplan worker` refusing what it cannot serve, before it connects to anything."""

from __future__ import annotations

from typer.testing import CliRunner

from flowplan.cli.app import app


def _worker(directory, *args: str):
    result = CliRunner().invoke(app, ["-C", str(directory), "worker", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_worker_without_a_broker_is_refused_with_the_diagnostic(tmp_path):
    (tmp_path / "main.hcl").write_text('flowplan {\n  executor = "celery"\n}\n')

    result = _worker(tmp_path, "--queue", "linux")

    assert result.exit_code == 1
    assert "Missing broker" in result.output
    assert 'broker = "redis://HOST:6379/0"' in result.output


def test_worker_refuses_a_queue_name_a_task_could_not_name(tmp_path):
    (tmp_path / "main.hcl").write_text(
        'flowplan {\n  executor = "celery"\n  broker = "redis://127.0.0.1:1/0"\n}\n')

    result = _worker(tmp_path, "--queue", "a b")

    assert result.exit_code == 1
    assert "queue 'a b': letters, digits" in result.output

"""`flowplan { server { max_upload_size = "4GiB" } }`: a size with a unit (B, KiB, MiB, GiB)
bounding one file a remote worker uploads through the server (flowplan.server.worker_api);
a bad value is a diagnostic at the attribute's line, and an upload past the configured size
answers 413 and leaves nothing behind."""

from __future__ import annotations

import hashlib
import textwrap

import pytest
from fastapi.testclient import TestClient

from flowplan.config.loader import load_config
from flowplan.config.schema import parse_size
from flowplan.executor.distributed.worker_tokens import create_worker_token
from flowplan.server.app import create_app
from flowplan.server.context import ServerContext
from flowplan.server.worker_api import MAX_UPLOAD_BYTES

DEFINITION = {"version": 2, "variables": {}, "caches": {}, "stages": {"build": {
    "index": 0, "trigger": "auto", "tasks": {
        "one": {"steps": {"s": {"index": 0, "type": "command", "run": "true"}}}}}}}


def settings_hcl(size: str) -> str:
    return textwrap.dedent(f"""\
        flowplan {{
          store = "sqlite:///.flowplan/flowplan.db"
          server {{
            port            = 8080
            max_upload_size = {size}
          }}
        }}
        """)


@pytest.mark.parametrize("text,size", [("1B", 1), ("1000B", 1000), ("64KiB", 64 * 1024),
                                       ("512 MiB", 512 * 1024**2), ("4GiB", 4 * 1024**3),
                                       (" 2KiB ", 2048)])
def test_a_size_is_a_whole_number_and_a_binary_unit(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("value", ['"4GB"', '"4gib"', '"0B"', '"-1KiB"', '"1.5GiB"', '"4"',
                                   '"GiB"', '"4 TiB"', '"99999999999999999GiB"', "4096"])
def test_a_bad_max_upload_size_is_a_diagnostic_at_its_line(tmp_path, value):
    (tmp_path / "main.hcl").write_text(settings_hcl(value))
    config = load_config(tmp_path, {}, environ={})
    errors = [d for d in config.diagnostics if d.severity.value == "error"]
    assert len(errors) == 1, [f"{d.summary}: {d.detail}" for d in errors]
    assert errors[0].range is not None and errors[0].range.line == 5
    assert "max_upload_size" in f"{errors[0].summary} {errors[0].detail}"
    wanted = "e.g. 512MiB or 4GiB" if value.startswith('"') else "a valid string"
    assert wanted in errors[0].detail                           # says what to write


def test_without_max_upload_size_the_worker_api_keeps_its_default(tmp_path):
    (tmp_path / "main.hcl").write_text('flowplan {\n  server {\n    port = 8080\n  }\n}\n')
    context = ServerContext.load(tmp_path, {})
    try:
        assert context.server_settings()["max_upload_bytes"] is None
        app = create_app(context)
        assert getattr(app.state, "worker_upload_limit", MAX_UPLOAD_BYTES) == 4 * 1024**3
    finally:
        context.close()


def test_an_upload_past_the_configured_size_answers_413_and_keeps_nothing(tmp_path):
    (tmp_path / "main.hcl").write_text(settings_hcl('"1KiB"'))
    context = ServerContext.load(tmp_path, {})
    client = TestClient(create_app(context))
    try:
        assert client.app.state.worker_upload_limit == 1024
        run = context.service.create("app", DEFINITION)
        task, = context.store.task_runs(run.id)
        token = create_worker_token(context.store, "builder-1")
        context.store.claim_task(task.id, run.id, "builder-1")
        url = f"/api/v1/worker/runs/{run.id}/tasks/{task.id}/artifacts/package"

        def put(content, digest: bytes):
            return client.put(url, content=content, headers={
                "Authorization": f"Bearer {token}",
                "X-Content-SHA256": hashlib.sha256(digest).hexdigest()})

        directory = tmp_path / ".flowplan/artifacts/app/1"
        refused = put(b"y" * 1025, b"y" * 1025)                  # Content-Length says so
        assert refused.status_code == 413 and "1024" in refused.json()["error"]
        assert not directory.exists() or list(directory.iterdir()) == []

        def chunks():                                            # no Content-Length: counted
            for _ in range(5):
                yield b"z" * 300
        streamed = put(chunks(), b"z" * 1500)
        assert streamed.status_code == 413, streamed.text
        assert not directory.exists() or list(directory.iterdir()) == []

        kept = put(b"x" * 1024, b"x" * 1024)                     # at the limit: kept
        assert kept.status_code == 200, kept.text
        assert [p.name for p in directory.iterdir()] == ["package.tgz"]
    finally:
        client.close()
        context.close()

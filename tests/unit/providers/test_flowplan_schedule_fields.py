"""The `schedule` block's `only_if_changed` (default false): taken as a bool, registered in the
schedule's definition for the server's scheduler, and a wrong type is a diagnostic."""

from __future__ import annotations

import textwrap

from flowplan.config.loader import load_config

PIPELINE = 'pipeline "app" {\n}\n'


def load(tmp_path, text: str):
    (tmp_path / "main.hcl").write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(tmp_path)


def test_only_if_changed_is_read_as_a_bool(tmp_path):
    config = load(tmp_path, PIPELINE + """
        schedule "nightly" {
          pipeline        = pipeline.app
          cron            = "0 2 * * *"
          only_if_changed = true
        }
    """)
    assert [d for d in config.diagnostics if d.severity.value == "error"] == []
    assert config.resources["schedule.nightly"].attributes["only_if_changed"] is True


def test_only_if_changed_of_another_type_is_a_diagnostic(tmp_path):
    config = load(tmp_path, PIPELINE + """
        schedule "nightly" {
          pipeline        = pipeline.app
          cron            = "0 2 * * *"
          only_if_changed = [1]
        }
    """)
    errors = [d for d in config.diagnostics if d.severity.value == "error"]
    assert errors and any("only_if_changed" in (d.summary + (d.detail or "")) for d in errors)


def test_only_if_changed_defaults_to_false(tmp_path):
    from flowplan_providers.flowplan.schema import Schedule

    assert Schedule(pipeline="pipeline.app", cron="@daily").only_if_changed is False

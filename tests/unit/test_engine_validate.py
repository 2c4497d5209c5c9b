"""engine.validate: the config's own checks, then every provider's offline `validate`, each
mistake located at the attribute at fault; no state, no store, no provider configured."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flowplan import engine
from flowplan.diagnostics import DiagnosticsError
from flowplan.providers import ProviderDiagnostic, ProviderRegistry
from providers.flowplan import FlowplanProvider

SCHEDULE = """\
    pipeline "app" {
    }

    schedule "nightly" {
      pipeline = pipeline.app
      cron     = "99 * * * *"
      timezone = "Mars/Olympus_Mons"
    }
"""


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(directory: Path, text: str) -> None:
    (directory / "main.hcl").write_text(textwrap.dedent(text), encoding="utf-8")


def only_flowplan() -> ProviderRegistry:
    return ProviderRegistry({"flowplan": FlowplanProvider}, environ={})


def test_validate_reports_a_bad_cron_and_a_bad_timezone_at_their_attributes(config_dir):
    write(config_dir, SCHEDULE)
    with pytest.raises(DiagnosticsError) as caught:
        engine.validate(config_dir, environ={}, registry=only_flowplan())
    found = [(d.severity.value, d.summary, str(d.range), d.address)
             for d in caught.value.diagnostics.sorted()]
    assert found == [
        ("error", "Invalid `cron`", "main.hcl:6:3", "schedule.nightly"),
        ("error", "Invalid `timezone`", "main.hcl:7:3", "schedule.nightly"),
    ]
    cron, timezone = caught.value.diagnostics.sorted()
    assert "'99 * * * *' is not a valid cron expression" in cron.detail
    assert "'Mars/Olympus_Mons' is not a known IANA time zone" in timezone.detail
    assert caught.value.texts["main.hcl"].startswith('pipeline "app"')


def test_validate_touches_neither_state_nor_store(config_dir):
    write(config_dir, SCHEDULE.replace("99 * * * *", "0 2 * * *")
          .replace("Mars/Olympus_Mons", "Asia/Seoul"))
    workspace = engine.validate(config_dir, environ={}, registry=only_flowplan())
    assert sorted(workspace.config.resources) == ["pipeline.app", "schedule.nightly"]
    assert not (config_dir / ".flowplan" / "state.json").exists()
    assert not (config_dir / ".flowplan" / "flowplan.db").exists()


def test_validate_asks_every_resource_s_provider_and_keeps_its_warnings(config_dir):
    asked = []

    class Picky(FlowplanProvider):
        def configure(self, request):
            raise AssertionError("validate must not configure providers")

        def validate(self, request):
            asked.append(f"{request.type}.{request.name}")
            if request.type == "deployment_group":
                return [ProviderDiagnostic("Odd environment", "is it right?",
                                           attribute="environment", severity="warning")]
            return super().validate(request)

    write(config_dir, """\
        pipeline "app" {
        }
        deployment_group "daily" {
          environment = "dialy"
        }
    """)
    workspace = engine.validate(config_dir, environ={},
                                registry=ProviderRegistry({"flowplan": Picky}, environ={}))
    assert sorted(asked) == ["deployment_group.daily", "pipeline.app"]
    [warning] = workspace.config.diagnostics
    assert (warning.severity.value, warning.summary, str(warning.range)) == \
        ("warning", "Odd environment", "main.hcl:4:3")

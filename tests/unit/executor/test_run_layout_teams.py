"""Where a run's files go, per team: team default's layout is what it always was; another
team's runs (numbered from 1 as well) are kept apart under `.teams/TEAM/`."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowplan.executor.run.layout import RunLayout
from flowplan.executor.settings import ExecutorSettings


@pytest.fixture
def settings(tmp_path):
    return ExecutorSettings.from_config(tmp_path, {})


def test_team_default_keeps_the_layout_it_always_had(settings, tmp_path):
    layout = RunLayout(settings, "app", 1)
    assert layout.run_dir == settings.workspace_dir / "app" / "1"
    assert layout.artifact_path("pkg") == settings.artifacts_dir / "app" / "1" / "pkg.tgz"
    assert layout.cache_path("m2", "k").parent == settings.cache_dir / "app" / "m2"


def test_the_same_run_number_of_two_teams_never_shares_a_file(settings):
    default, blue = RunLayout(settings, "app", 1), RunLayout(settings, "app", 1, "blue")
    assert blue.run_dir == settings.workspace_dir / ".teams" / "blue" / "app" / "1"
    for mine, theirs in ((default.run_dir, blue.run_dir),
                         (default.artifact_path("pkg"), blue.artifact_path("pkg")),
                         (default.artifact_file("t.s.sarif"), blue.artifact_file("t.s.sarif")),
                         (default.cache_path("m2", "k"), blue.cache_path("m2", "k"))):
        assert mine != theirs
        assert Path(".teams") not in mine.parents


def test_a_team_name_cannot_leave_the_directories(settings):
    from flowplan.executor.errors import PathEscape

    with pytest.raises(PathEscape):
        RunLayout(settings, "app", 1, "../x")

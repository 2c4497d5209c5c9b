"""Core entry points in-process: where the state backend named by the `flowplan {}` block lives."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flowplan import engine
from flowplan.providers import ProviderRegistry


def load_with_state_path(directory: Path, path: str) -> engine.Workspace:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.hcl").write_text(textwrap.dedent(f"""\
        flowplan {{
          state {{
            path = "{path}"
          }}
        }}
    """), encoding="utf-8")
    return engine.load(directory, environ={}, registry=ProviderRegistry(classes={}, environ={}))


def test_state_path_starting_with_a_tilde_is_under_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    workspace = load_with_state_path(tmp_path / "config", "~/x/state.json")
    assert workspace.backend.path == tmp_path / "home" / "x" / "state.json"
    with workspace.backend.lock("plan"):
        assert (tmp_path / "home" / "x" / "state.json.lock").exists()
    assert not (tmp_path / "config" / "~").exists()


@pytest.mark.parametrize("path, expected", [("state/s.json", "config/state/s.json"),
                                            ("{tmp}/abs/s.json", "abs/s.json")])
def test_state_path_is_taken_from_the_config_directory_unless_absolute(tmp_path, path, expected):
    workspace = load_with_state_path(tmp_path / "config", path.format(tmp=tmp_path))
    assert workspace.backend.path == tmp_path / expected

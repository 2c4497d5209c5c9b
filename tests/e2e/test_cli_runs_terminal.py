"""`flowplan run` on a terminal (a real pseudo-terminal): a live stage/task/step tree with status
symbols and durations, in colour, with the step's log lines printed above it; the exit codes are
those of the piped output."""

from __future__ import annotations

import re

import pytest

from cli_workspace import Workspace, applied_workspace, copy_applied
from runs_support import ANSI_ESCAPE, last_frame, run_on_terminal, strip_escapes

CONFIG = """
pipeline "tree" {
  stage "build" {
    task "compile" {
      step "hello" {
        type = "command"
        run  = "echo compiling now; sleep 0.3"
      }
      step "second" {
        type = "command"
        run  = "echo second step"
      }
    }
  }
  stage "test" {
    task "unit" {
      step "check" {
        type = "command"
        run  = "echo checking"
      }
    }
  }
}

pipeline "gated" {
  stage "build" {
    task "compile" {
      step "hello" {
        type = "command"
        run  = "echo built"
      }
    }
  }
  stage "gate" {
    task "approval" {
      step "ok" {
        type      = "manual_approval"
        approvers = ["alice"]
      }
    }
  }
}

pipeline "broken" {
  stage "build" {
    task "compile" {
      step "fail" {
        type = "command"
        run  = "exit 3"
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def applied_template(tmp_path_factory) -> Workspace:
    """CONFIG applied once; tests copy it rather than applying again."""
    return applied_workspace(tmp_path_factory.mktemp("runs-terminal"), CONFIG)


@pytest.fixture
def configured(workspace, applied_template):
    return copy_applied(workspace, applied_template)


def test_terminal_shows_a_live_tree_with_durations_and_log_lines(configured):
    result = run_on_terminal(configured, "run", "tree")
    assert result.code == 0, strip_escapes(result.stdout)
    assert ANSI_ESCAPE.search(result.stdout), "a terminal gets colours"
    plain = strip_escapes(result.stdout)
    assert re.search(r"compile/hello │ compiling now", plain), plain
    assert re.search(r"unit/check │ checking", plain), plain
    frame = last_frame(result.stdout, "tree#1 (manual)")
    for name in ("build", "compile", "hello", "second", "test", "unit", "check"):
        assert re.search(rf"✓ {name}  \d+\.\ds", frame), (name, frame)
    hello = float(re.search(r"✓ hello  (\d+\.\d)s", frame).group(1))
    assert hello >= 0.3
    assert re.search(r"tree#1 succeeded in \d+\.\ds", frame), frame


def test_terminal_run_that_fails_exits_1(configured):
    result = run_on_terminal(configured, "run", "broken")
    assert result.code == 1, strip_escapes(result.stdout)
    frame = last_frame(result.stdout, "broken#1 (manual)")
    assert re.search(r"✗ fail  \d+\.\ds exit code 3", frame), frame


def test_terminal_run_waiting_exits_4_with_the_command(configured):
    result = run_on_terminal(configured, "run", "gated")
    assert result.code == 4, strip_escapes(result.stdout)
    frame = last_frame(result.stdout, "gated#1 (manual)")
    assert "flowplan approve gated#1 --as alice" in frame
    assert re.search(r"⏸ ok\b", frame), frame


def test_terminal_tree_of_a_waiting_run_shows_its_task_waiting(configured):
    result = run_on_terminal(configured, "run", "gated")
    assert result.code == 4
    frame = last_frame(result.stdout, "gated#1 (manual)")
    assert "▶" not in frame, frame
    assert re.search(r"⏸ approval\b", frame), frame

r"""Bad input and faults through `flowplan run`: binary output, output past the per-step log cap
(its first and last part stored, a line between saying how much was left out), a task name that
would escape the workspace root (refused by validate), a source whose repository or branch is
missing. (A step ignoring SIGTERM, an approval by someone not on
the list, a retry of a run that succeeded and concurrent runs are in test_cli_runs_processes.py,
test_cli_runs_approvals.py and test_cli_runs_retry_skip.py.)"""

from __future__ import annotations

import re

import pytest

from cli_workspace import Workspace, applied_workspace, assert_ok, copy_applied
from runs_support import fill, make_repository, parse_json, parse_json_lines

CONFIG = r"""
source "app" {
  url    = "@REPO@"
  branch = "master"
}

source "gone" {
  url    = "@MISSING@"
  branch = "master"
}

source "nobranch" {
  url    = "@REPO@"
  branch = "does-not-exist"
}

pipeline "binary" {
  stage "s" {
    task "t" {
      step "noise" {
        type = "command"
        run  = "printf 'bin\\000ary\\377\\376 end\\n'; head -c 3000 /dev/urandom; echo; echo after-noise"
      }
    }
  }
}

pipeline "flood" {
  stage "s" {
    task "t" {
      step "flood" {
        type = "command"
        run  = "head -c 36000000 /dev/zero | tr '\\000' a | fold -w 1000; echo; echo after-the-flood"
      }
      step "next" {
        type = "command"
        run  = "echo next step runs"
      }
    }
  }
}

pipeline "missing_repo" {
  source = source.gone
  stage "s" {
    task "t" {
      step "x" {
        type = "command"
        run  = "echo should not run"
      }
    }
  }
}

pipeline "missing_branch" {
  source = source.nobranch
  stage "s" {
    task "t" {
      step "x" {
        type = "command"
        run  = "echo should not run"
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def applied_template(tmp_path_factory) -> Workspace:
    """CONFIG (with a repository no test changes) applied once; tests copy it."""
    root = tmp_path_factory.mktemp("runs-faults")
    repo = make_repository(root / "repo")
    return applied_workspace(root, fill(CONFIG, repo=repo, missing=root / "no-such-repo"))


@pytest.fixture
def configured(workspace, applied_template):
    return copy_applied(workspace, applied_template)


def test_binary_output_is_stored_leniently_and_shown(configured, run_flowplan):
    result = run_flowplan("run", "binary")
    assert result.code == 0, str(result)
    assert "[s/t/noise] | after-noise" in result.stdout
    records = parse_json_lines(run_flowplan("logs", "binary#1", "--json"))
    texts = [r["text"] for r in records if r["stream"] == "stdout"]
    assert texts[0].startswith("bin") and texts[0].endswith("ary\ufffd\ufffd end")
    assert "\x00" not in "".join(texts)
    assert texts[-1] == "after-noise"
    plain = assert_ok(run_flowplan("logs", "binary#1"))
    assert plain.stdout.rstrip().endswith("| after-noise")


def test_output_past_the_log_cap_keeps_head_and_tail_saying_what_was_left_out(configured,
                                                                             run_flowplan):
    result = run_flowplan("run", "flood", "--from-config", timeout=120)
    assert result.code == 0, str(result)[:2000]
    omitted = re.search(r"^\[s/t/flood\] # \.\.\. (\d+) bytes \((\d+) lines\) left out \.\.\.$",
                        result.stdout, re.M)
    assert omitted, result.stdout[-3000:]
    left_out_bytes, left_out_lines = int(omitted.group(1)), int(omitted.group(2))
    assert left_out_bytes == left_out_lines * 1001
    assert "[s/t/flood] | after-the-flood" in result.stdout
    assert "[s/t/next] | next step runs" in result.stdout
    shown = parse_json(run_flowplan("runs", "show", "flood#1", "--json"))
    flood = [s for st in shown["stages"] for t in st["tasks"] for s in t["steps"]
             if s["step"] == "flood"][0]
    assert flood["status"] == "succeeded"
    assert flood["log_dropped"] == left_out_lines
    assert flood["log_lines"] == 36_001
    assert flood["log_bytes"] == 36_000 * 1001 + len("after-the-flood\n")
    logs = assert_ok(run_flowplan("logs", "flood#1", "--step", "flood", timeout=120)).stdout
    lines = logs.splitlines()
    assert lines[-1].endswith("| after-the-flood")
    notice = [i for i, line in enumerate(lines) if line.endswith(" left out ...")]
    assert len(notice) == 1 and f"# ... {left_out_bytes} bytes ({left_out_lines} lines)" \
        in lines[notice[0]]
    stored = [line for line in lines if line.endswith("a" * 1000)]
    assert len(stored) == 36_000 - left_out_lines
    assert notice[0] > 30_000 and len(lines) - notice[0] > 1000    # a head and a tail


ESCAPE = """
pipeline "escape" {
  stage "s" {
    task "../../escape" {
      step "x" {
        type = "command"
        run  = "touch escaped-here"
      }
    }
  }
}
"""


def test_task_name_escaping_the_workspace_root_is_refused_by_validate_and_never_runs(
        workspace, run_flowplan, tmp_path):
    workspace.write(ESCAPE)
    refused = run_flowplan("validate")
    assert refused.code == 1, str(refused)
    assert "main.hcl:3:10: error: Invalid name" in refused.stderr
    assert "a name must not start with '.'" in refused.stderr
    tried = run_flowplan("run", "escape", "--from-config")
    assert tried.code == 1 and "Invalid name" in tried.stderr
    assert list(tmp_path.rglob("escaped-here")) == []


def test_missing_repository_fails_the_run_with_a_clear_message(configured, run_flowplan,
                                                              applied_template):
    result = run_flowplan("run", "missing_repo")
    assert result.code == 1, str(result)
    assert re.search(r"^==> missing_repo#1 failed .*source: ", result.stdout, re.M), \
        result.stdout
    assert str(applied_template.root / "no-such-repo") in result.stdout
    assert "should not run" not in result.stdout.replace('"echo should not run"', "")
    shown = parse_json(run_flowplan("runs", "show", "missing_repo#1", "--json"))
    assert shown["run"]["status"] == "failed" and shown["run"]["error"].startswith("source: ")


def test_missing_branch_fails_the_run_naming_the_branch(configured, run_flowplan):
    result = run_flowplan("run", "missing_branch")
    assert result.code == 1, str(result)
    assert re.search(r"^==> missing_branch#1 failed .*source: .*does-not-exist", result.stdout,
                     re.M), result.stdout

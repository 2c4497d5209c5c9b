"""`flowplan run` end to end: exit codes (0 succeeded, 1 failed, 4 waiting with the command to
continue), plain piped output with log lines and durations, the history table (`runs`, `runs P`),
a run's tree (`runs show`), `logs` by task and step, and `--json` for scripts.

Each test drives the real `flowplan` command in a subprocess against a config written inline and,
where a source is involved, a real git repository made in tmp_path; the runs land in the real
SQLite store under the config's `.flowplan/`.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from cli_workspace import Workspace, applied_workspace, assert_ok, copy_applied
from runs_support import (ANSI_ESCAPE, DURATION, fill, git, make_repository, parse_json,
                          parse_json_lines, query)

CONFIG = """
source "app" {
  url    = "@REPO@"
  branch = "master"
}

pipeline "good" {
  source = source.app
  stage "build" {
    task "compile" {
      step "hello" {
        type = "command"
        run  = "echo compiling; cat README; echo to-stderr >&2"
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

pipeline "broken" {
  stage "build" {
    task "compile" {
      step "fail" {
        type = "command"
        run  = "echo about to fail; exit 3"
      }
      step "never" {
        type = "command"
        run  = "echo never runs"
      }
    }
  }
  stage "later" {
    task "after" {
      step "x" {
        type = "command"
        run  = "echo later"
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
  stage "release" {
    task "approval" {
      step "gate" {
        type        = "manual_approval"
        approvers   = ["alice", "bob"]
        description = "Ship it?"
      }
    }
  }
  stage "deploy" {
    task "ship" {
      step "go" {
        type = "command"
        run  = "echo shipped"
      }
    }
  }
}

pipeline "solo" {
  stage "release" {
    task "approval" {
      step "gate" {
        type      = "manual_approval"
        approvers = ["alice"]
      }
    }
  }
  stage "deploy" {
    task "ship" {
      step "go" {
        type = "command"
        run  = "echo shipped"
      }
    }
  }
}

pipeline "manual_stage" {
  stage "build" {
    task "compile" {
      step "hello" {
        type = "command"
        run  = "echo built"
      }
    }
  }
  stage "deploy" {
    trigger = "manual"
    task "ship" {
      step "go" {
        type = "command"
        run  = "echo shipped by hand"
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def applied_template(tmp_path_factory) -> Workspace:
    """The config (with its repository, which no test changes) applied once; tests copy it."""
    root = tmp_path_factory.mktemp("runs-basics")
    repo = make_repository(root / "repo", {"README": "hello from the repository\n"},
                           "Initial import\n\nwith a body")
    return applied_workspace(root, fill(CONFIG, repo=repo))


@pytest.fixture
def repo(applied_template):
    return applied_template.root / "repo"


@pytest.fixture
def written(workspace, repo):
    """The config written, never applied."""
    workspace.write(fill(CONFIG, repo=repo))
    return workspace


@pytest.fixture
def configured(workspace, applied_template):
    """The config applied (a copy of the template): `flowplan run` runs the applied
    definitions."""
    return copy_applied(workspace, applied_template)


def test_run_that_succeeds_exits_0_with_plain_lines_log_lines_and_durations(
        configured, run_flowplan, repo):
    result = run_flowplan("run", "good")
    assert result.code == 0, str(result)
    assert not ANSI_ESCAPE.search(result.output), "piped output must carry no ANSI escapes"
    lines = result.stdout.splitlines()
    head = git(repo, "rev-parse", "HEAD")
    assert lines[0].startswith("==> good#1 started (trigger manual")
    assert any(line.startswith(f"    checked out {head[:7]} on master: Initial import "
                               "(Ada Lovelace") for line in lines), result.stdout
    assert "[build/compile/hello] | compiling" in lines
    assert "[build/compile/hello] | hello from the repository" in lines
    assert "[build/compile/hello] ! to-stderr" in lines
    assert "[build/compile/second] | second step" in lines
    assert "[test/unit/check] | checking" in lines
    finished = [line for line in lines if re.fullmatch(r"\[build/compile/hello\] succeeded in "
                                                       r"\d+\.\ds", line)]
    assert finished, result.stdout
    assert re.search(r"^\[build\] stage succeeded in \d+\.\ds$", result.stdout, re.M)
    assert re.fullmatch(r"==> good#1 succeeded in \d+\.\ds", lines[-1])
    # the order of a task's steps and of the stages is kept
    order = [lines.index(x) for x in ("[build/compile/hello] | compiling",
                                      "[build/compile/second] | second step",
                                      "[test/unit/check] | checking")]
    assert order == sorted(order)


def test_run_with_a_failing_step_exits_1_and_skips_what_follows(configured, run_flowplan):
    result = run_flowplan("run", "broken")
    assert result.code == 1, str(result)
    assert "[build/compile/fail] | about to fail" in result.stdout
    assert re.search(r"^\[build/compile/fail\] failed in \d+\.\ds \(exit code 3\b",
                     result.stdout, re.M), result.stdout
    assert "never runs" not in result.output
    assert "later" not in result.stdout.replace("[later]", "")
    assert re.search(r"^==> broken#1 failed in \d+\.\ds", result.stdout, re.M)
    shown = parse_json(run_flowplan("runs", "show", "broken#1", "--json"))
    assert shown["run"]["status"] == "failed"
    steps = {s["step"]: s for stage in shown["stages"] for t in stage["tasks"]
             for s in t["steps"]}
    assert steps["fail"]["status"] == "failed" and steps["fail"]["exit_code"] == 3
    assert steps["never"]["status"] != "succeeded"
    assert steps["x"]["status"] in ("skipped", "queued")


def test_run_waiting_for_an_approval_exits_4_printing_the_exact_command(configured,
                                                                         run_flowplan):
    result = run_flowplan("run", "gated")
    assert result.code == 4, str(result)
    assert "==> gated#1 is waiting for a person:" in result.stdout
    assert "release/approval/gate: Ship it? (who may decide: alice, bob)" in result.stdout \
        or re.search(r"release/approval/gate: Ship it\? \(who may decide: .*alice.*bob",
                     result.stdout), result.stdout
    commands = re.findall(r"^\s+(flowplan \S+ gated#1.*)$", result.stdout, re.M)
    # two people may approve: the command names the run and asks for who approves
    assert "flowplan approve gated#1 --as USER" in commands, result.stdout
    assert "shipped" not in result.stdout
    runs = parse_json(run_flowplan("runs", "gated", "--json"))
    assert [(r["number"], r["status"]) for r in runs] == [(1, "waiting")]


def test_printed_approve_command_works_as_printed(configured, run_flowplan):
    waiting = run_flowplan("run", "solo")
    assert waiting.code == 4, str(waiting)
    commands = re.findall(r"^\s+(flowplan .*)$", waiting.stdout, re.M)
    assert "flowplan approve solo#1 --as alice" in commands, waiting.stdout
    assert "flowplan reject solo#1 --as alice" in commands, waiting.stdout
    args = shlex.split("flowplan approve solo#1 --as alice")[1:]
    continued = run_flowplan(*args)
    assert continued.code == 0, str(continued)
    assert "[deploy/ship/go] | shipped" in continued.stdout


def test_manual_stage_waits_with_exit_4_and_approve_runs_it(configured, run_flowplan):
    result = run_flowplan("run", "manual_stage")
    assert result.code == 4, str(result)
    assert "[build/compile/hello] | built" in result.stdout
    assert "shipped by hand" not in result.stdout
    assert "==> manual_stage#1 is waiting for a person:" in result.stdout
    match = re.search(r"^\s+flowplan (approve manual_stage#1\b.*)$", result.stdout, re.M)
    assert match, result.stdout
    continued = run_flowplan(*match.group(1).split())
    assert continued.code == 0, str(continued)
    assert "[deploy/ship/go] | shipped by hand" in continued.stdout


def test_runs_table_lists_number_status_trigger_commit_who_started_duration(
        configured, run_flowplan, repo):
    assert run_flowplan("run", "good", "--as", "carol").code == 0
    assert run_flowplan("run", "broken").code == 1
    assert run_flowplan("run", "good", "--as", "dave").code == 0
    table = assert_ok(run_flowplan("runs"))
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["RUN", "STATUS", "TRIGGER", "COMMIT", "WHO", "STARTED",
                                "DURATION"]
    short = git(repo, "rev-parse", "--short=7", "HEAD")
    rows = [line.split() for line in lines[1:]]
    # newest first
    assert [r[0] for r in rows] == ["good#2", "broken#1", "good#1"]
    good2 = rows[0]
    assert good2[1:5] == ["succeeded", "manual", short, "dave"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", good2[5]) and re.fullmatch(r"\d\d:\d\d:\d\d",
                                                                       good2[6])
    assert DURATION.fullmatch(good2[7])
    assert rows[1][1] == "failed"
    assert rows[2][1:5] == ["succeeded", "manual", short, "carol"]

    only_good = assert_ok(run_flowplan("runs", "good")).stdout.splitlines()
    assert [line.split()[0] for line in only_good[1:]] == ["good#2", "good#1"]
    limited = assert_ok(run_flowplan("runs", "good", "--limit", "1")).stdout.splitlines()
    assert [line.split()[0] for line in limited[1:]] == ["good#2"]


def test_runs_with_no_history_says_how_to_start_one(configured, run_flowplan):
    result = assert_ok(run_flowplan("runs"))
    assert "No runs yet" in result.stdout and "flowplan run" in result.stdout
    assert parse_json(run_flowplan("runs", "--json")) == []


def test_runs_json_is_parseable_with_the_table_fields(configured, run_flowplan, repo):
    assert run_flowplan("run", "good", "--as", "carol").code == 0
    runs = parse_json(run_flowplan("runs", "--json"))
    assert len(runs) == 1
    run = runs[0]
    head = git(repo, "rev-parse", "HEAD")
    assert (run["pipeline"], run["number"], run["status"], run["trigger"], run["user"]) == \
        ("good", 1, "succeeded", "manual", "carol")
    assert run["commit"] == head and run["branch"] == "master"
    assert run["commit_message"].startswith("Initial import")
    assert run["started_at"] and run["finished_at"]
    assert run["definition"] == "applied"       # which definition, not the long snapshot


def test_runs_show_prints_the_tree_with_statuses(configured, run_flowplan, repo):
    assert run_flowplan("run", "broken").code == 1
    tree = assert_ok(run_flowplan("runs", "show", "broken#1")).stdout
    lines = tree.splitlines()
    assert lines[0].startswith("broken#1  failed  trigger manual")
    assert re.search(r"^✗ build  failed$", tree, re.M)
    assert re.search(r"^  ✗ compile  failed  \d+\.\ds", tree, re.M)
    assert re.search(r"^    ✗ fail  command  failed  \d+\.\ds \(exit code 3\b", tree, re.M)
    assert re.search(r"^    \S never  command  (skipped|queued|canceled)", tree, re.M), tree
    assert re.search(r"^\S later  (skipped|queued)", tree, re.M), tree

    assert run_flowplan("run", "good").code == 0
    good = assert_ok(run_flowplan("runs", "show", "good#1")).stdout
    short = git(repo, "rev-parse", "--short=7", "HEAD")
    assert f"  commit {short} on master: Initial import" in good
    for name in ("build", "test"):
        assert re.search(rf"^✓ {name}  succeeded$", good, re.M)
    for step in ("hello", "second", "check"):
        assert re.search(rf"^    ✓ {step}  command  succeeded  \d+\.\ds$", good, re.M)


def test_runs_show_json_has_stages_tasks_steps_and_approvals(configured, run_flowplan):
    assert run_flowplan("run", "gated").code == 4
    waiting = parse_json(run_flowplan("runs", "show", "gated#1", "--json"))
    assert waiting["run"]["status"] == "waiting"
    assert [s["name"] for s in waiting["stages"]] == ["build", "release", "deploy"]
    assert [s["status"] for s in waiting["stages"]] == ["succeeded", "waiting", "queued"]
    assert waiting["gates"] and waiting["gates"][0]["step"] == "gate"
    assert run_flowplan("approve", "gated#1", "--as", "bob", "--comment", "fine").code == 0
    done = parse_json(run_flowplan("runs", "show", "gated#1", "--json"))
    assert done["run"]["status"] == "succeeded"
    assert [(a["user"], a["decision"], a["comment"]) for a in done["approvals"]] == \
        [("bob", "approve", "fine")]
    assert done["gates"] == []


def test_runs_show_of_a_run_that_does_not_exist_is_an_error(configured, run_flowplan):
    assert run_flowplan("run", "good").code == 0
    missing = run_flowplan("runs", "show", "good#7")
    assert missing.code == 1, str(missing)
    assert "good#7" in missing.stderr and "good#1" in missing.stderr
    bad = run_flowplan("runs", "show", "not-a-ref")
    assert bad.code == 1, str(bad)
    assert "Error" in bad.stderr


def test_run_of_an_unknown_pipeline_names_the_pipelines(configured, run_flowplan):
    result = run_flowplan("run", "nope")
    assert result.code == 1, str(result)
    assert 'No pipeline named "nope"' in result.stderr
    assert "good" in result.stderr and "gated" in result.stderr
    assert query(configured, "select count(*) from runs") in ([], [(0,)])


def test_pipeline_never_applied_is_refused_naming_apply_and_from_config(written, run_flowplan):
    refused = run_flowplan("run", "good")
    assert refused.code == 1, str(refused)
    assert "pipeline.good has not been applied" in refused.stderr
    assert "`flowplan apply`" in refused.stderr, refused.stderr
    assert "`flowplan run good --from-config`" in refused.stderr, refused.stderr
    assert query(written, "select count(*) from runs") in ([], [(0,)])

    # the second way forward: try the working copy without applying it
    tried = run_flowplan("run", "good", "--from-config")
    assert tried.code == 0, str(tried)
    assert "[test/unit/check] | checking" in tried.stdout
    assert "note:" not in tried.stderr
    shown = parse_json(run_flowplan("runs", "show", "good#1", "--json"))
    assert (shown["run"]["status"], shown["run"]["definition"]) == ("succeeded", "working_copy")


NOTE = ("note: pipeline.good differs from its applied definition; running the applied one "
        "(flowplan plan shows the difference; --from-config runs the working copy)")


def test_run_after_an_unapplied_edit_runs_the_applied_definition_saying_so(configured,
                                                                           run_flowplan, repo):
    configured.write(fill(CONFIG, repo=repo).replace('"echo checking"', '"echo checking edit"'))
    applied = run_flowplan("run", "good")
    assert applied.code == 0, str(applied)
    assert NOTE in applied.stderr.splitlines(), applied.stderr
    assert "[test/unit/check] | checking" in applied.stdout.splitlines()
    assert "checking edit" not in applied.stdout

    edited = run_flowplan("run", "good", "--from-config")
    assert edited.code == 0, str(edited)
    assert "[test/unit/check] | checking edit" in edited.stdout.splitlines()
    assert "note:" not in edited.stderr

    runs = parse_json(run_flowplan("runs", "--json"))
    assert [(r["number"], r["definition"]) for r in runs] == [(2, "working_copy"),
                                                              (1, "applied")]
    table = assert_ok(run_flowplan("runs")).stdout.splitlines()
    assert [line.split()[0] for line in table[1:3]] == ["good#2*", "good#1"], table
    assert table[-1].startswith("* ran the working copy"), table


def test_logs_prints_all_lines_or_one_task_or_one_step(configured, run_flowplan):
    assert run_flowplan("run", "good").code == 0
    everything = assert_ok(run_flowplan("logs", "good#1")).stdout
    stamp = r"\d\d:\d\d:\d\d\.\d{3}"
    assert re.search(rf"^{stamp} build/compile/hello \| compiling$", everything, re.M)
    assert re.search(rf"^{stamp} build/compile/hello ! to-stderr$", everything, re.M)
    assert re.search(rf"^{stamp} test/unit/check \| checking$", everything, re.M)

    task = assert_ok(run_flowplan("logs", "good#1", "--task", "compile")).stdout
    assert "compiling" in task and "second step" in task and "checking" not in task

    step = assert_ok(run_flowplan("logs", "good#1", "--task", "compile", "--step",
                                  "second")).stdout
    texts = [line.split(" ", 3)[3] for line in step.splitlines()
             if " | " in line]
    assert texts == ["second step"]
    assert "compiling" not in step

    unknown = run_flowplan("logs", "good#1", "--task", "nope")
    assert unknown.code == 1, str(unknown)
    assert "compile/hello" in unknown.stderr


def test_logs_json_is_one_object_per_line(configured, run_flowplan):
    assert run_flowplan("run", "good").code == 0
    records = parse_json_lines(run_flowplan("logs", "good#1", "--json"))
    assert records
    assert set(records[0]) >= {"stage", "task", "step", "attempt", "seq", "at", "stream", "text"}
    outputs = [(r["task"], r["step"], r["stream"], r["text"]) for r in records
               if r["stream"] != "system"]
    assert outputs == [
        ("compile", "hello", "stdout", "compiling"),
        ("compile", "hello", "stdout", "hello from the repository"),
        ("compile", "hello", "stderr", "to-stderr"),
        ("compile", "second", "stdout", "second step"),
        ("unit", "check", "stdout", "checking"),
    ] or sorted(outputs) == sorted([
        ("compile", "hello", "stdout", "compiling"),
        ("compile", "hello", "stdout", "hello from the repository"),
        ("compile", "hello", "stderr", "to-stderr"),
        ("compile", "second", "stdout", "second step"),
        ("unit", "check", "stdout", "checking"),
    ])
    assert all(isinstance(r["at"], (int, float)) for r in records)
    one = parse_json_lines(run_flowplan("logs", "good#1", "--json", "--task", "unit",
                                        "--step", "check"))
    assert [r["text"] for r in one if r["stream"] == "stdout"] == ["checking"]
    assert json.loads(json.dumps(one)) == one


def test_failed_step_names_its_exit_code_once(configured, run_flowplan):
    result = run_flowplan("run", "broken")
    assert result.code == 1, str(result)
    assert "exit code 3; exit code 3" not in result.stdout
    tree = assert_ok(run_flowplan("runs", "show", "broken#1")).stdout
    assert "exit code 3; exit code 3" not in tree

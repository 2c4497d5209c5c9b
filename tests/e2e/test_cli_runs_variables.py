"""Variables through `flowplan run`: `--var` over config and pipeline variables, the built-in
FLOWPLAN_* environment, `--branch` and `--commit` choosing what a real git repository checks out
(and `run.branch` / `run.commit_short` showing it), crafted branch names and `--var` values that
must stay data in `run` scripts, and a sensitive variable masked in every output and absent from
flowplan's own files under `.flowplan/`."""

from __future__ import annotations

import json
import re

import pytest

from cli_workspace import assert_ok
from runs_support import (fill, git, make_repository, commit_files, parse_json,
                          parse_json_lines, ref_format_ok)

VARIABLES = """
variable "greeting" {
  type    = string
  default = "hello"
}

pipeline "vars" {
  variables = {
    COLOR = "red"
    SIZE  = "small"
  }
  stage "show" {
    task "print" {
      step "env" {
        type = "command"
        run  = "echo greeting=${var.greeting} color=$COLOR size=$SIZE"
      }
    }
  }
}
"""


def test_var_overrides_a_config_variable_and_a_pipeline_variable(workspace, run_flowplan):
    workspace.write(VARIABLES)
    defaults = run_flowplan("run", "vars")
    assert defaults.code == 0, str(defaults)
    assert "[show/print/env] | greeting=hello color=red size=small" in defaults.stdout

    given = run_flowplan("run", "vars", "--var", "greeting=bonjour", "--var", "COLOR=blue")
    assert given.code == 0, str(given)
    assert "[show/print/env] | greeting=bonjour color=blue size=small" in given.stdout

    # the next run without --var is back to the config's values
    again = run_flowplan("run", "vars")
    assert "[show/print/env] | greeting=hello color=red size=small" in again.stdout


def test_var_naming_nothing_declared_is_refused_before_a_run(workspace, run_flowplan):
    workspace.write(VARIABLES)
    refused = run_flowplan("run", "vars", "--var", "NOPE=1")
    assert refused.code == 1, str(refused)
    assert "NOPE" in refused.stderr
    assert parse_json(run_flowplan("runs", "--json")) == []


SOURCED = """
source "app" {
  url    = "@REPO@"
  branch = "master"
}

pipeline "built" {
  source = source.app
  stage "first" {
    task "env" {
      step "show" {
        type = "command"
        run  = <<-EOT
          echo "number=$FLOWPLAN_RUN_NUMBER pipeline=$FLOWPLAN_PIPELINE"
          echo "commit=$FLOWPLAN_COMMIT branch=$FLOWPLAN_BRANCH"
          echo "workspace=$FLOWPLAN_WORKSPACE"
          echo "pwd=$(pwd -P)"
          echo "readme=$(cat README)"
          echo "run.branch=${run.branch} run.commit_short=${run.commit_short}"
        EOT
      }
    }
  }
}
"""


@pytest.fixture
def repo(tmp_path):
    repo = make_repository(tmp_path / "repo", {"README": "first\n"}, "first")
    return repo


def step_output(result) -> dict[str, str]:
    values = {}
    for line in result.stdout.splitlines():
        match = re.fullmatch(r"\[first/env/show\] \| (\S+?)=(.*)", line)
        if match:
            for part in re.findall(r"(\S+?)=(\S*)", match.group(0).split(" | ", 1)[1]):
                values[part[0]] = part[1]
    return values


def test_builtins_reach_steps_as_environment_variables(workspace, run_flowplan, repo):
    workspace.write(fill(SOURCED, repo=repo))
    head = git(repo, "rev-parse", "HEAD")
    assert run_flowplan("run", "built").code == 0
    result = run_flowplan("run", "built")
    assert result.code == 0, str(result)
    values = step_output(result)
    assert values["number"] == "2" and values["pipeline"] == "built"
    assert values["commit"] == head and values["branch"] == "master"
    assert values["workspace"], result.stdout
    assert values["pwd"] == str(__import__("pathlib").Path(values["workspace"]).resolve())
    assert values["workspace"].startswith(str(workspace.config.resolve()))
    assert values["readme"] == "first"
    assert values["run.branch"] == "master" and values["run.commit_short"] == head[:7]


def test_branch_and_commit_options_pick_what_is_checked_out(workspace, run_flowplan, repo):
    workspace.write(fill(SOURCED, repo=repo))
    first = git(repo, "rev-parse", "HEAD")
    second = commit_files(repo, {"README": "second\n"}, "second")
    git(repo, "checkout", "-q", "-b", "feature/login")
    feature = commit_files(repo, {"README": "feature\n"}, "feature work")
    git(repo, "checkout", "-q", "master")

    default = step_output(run_flowplan("run", "built"))
    assert (default["readme"], default["commit"]) == ("second", second)

    branch = run_flowplan("run", "built", "--branch", "feature/login")
    assert branch.code == 0, str(branch)
    values = step_output(branch)
    assert values["readme"] == "feature"
    assert values["commit"] == feature and values["branch"] == "feature/login"
    assert values["run.branch"] == "feature/login"
    assert values["run.commit_short"] == feature[:7]

    pinned = run_flowplan("run", "built", "--commit", first)
    assert pinned.code == 0, str(pinned)
    values = step_output(pinned)
    assert values["readme"] == "first"
    assert values["commit"] == first and values["run.commit_short"] == first[:7]

    runs = {r["number"]: r for r in parse_json(run_flowplan("runs", "built", "--json"))}
    assert (runs[2]["branch"], runs[2]["commit"]) == ("feature/login", feature)
    assert runs[3]["commit"] == first
    table = assert_ok(run_flowplan("runs", "built")).stdout
    assert re.search(rf"^built#3\s+succeeded\s+manual\s+{first[:7]}\s", table, re.M), table

    missing = run_flowplan("run", "built", "--branch", "no-such-branch")
    assert missing.code == 1, str(missing)
    assert "no-such-branch" in missing.stdout


# -- injection ------------------------------------------------------------------------------

INJECTION = """
variable "goal" {
  type    = string
  default = "nothing"
}

source "app" {
  url    = "@REPO@"
  branch = "master"
}

pipeline "inject" {
  source = source.app
  stage "first" {
    task "t" {
      step "bare" {
        type = "command"
        run  = "echo bare=${run.branch}"
      }
      step "quoted" {
        type = "command"
        run  = "echo \\"quoted=${run.branch}\\""
      }
      step "env" {
        type = "command"
        run  = "echo \\"env=$FLOWPLAN_BRANCH\\""
      }
      step "var_bare" {
        type = "command"
        run  = "echo ${var.goal}"
      }
      step "var_quoted" {
        type = "command"
        run  = "echo \\"${var.goal}\\""
      }
      step "var_single" {
        type = "command"
        run  = "echo '${var.goal}'"
      }
    }
  }
}
"""

CRAFTED_BRANCHES = [
    "feature/$(touch${IFS}PWNED)",
    "feature/`touch${IFS}PWNED`",
    "fix;touch${IFS}PWNED",
    "feat/\"$(touch${IFS}PWNED)\"",
    "feat/'$(touch${IFS}PWNED)'",
]


def pwned(root) -> list:
    return [p for p in root.rglob("PWNED*")]


def lines_of(result, step: str) -> list[str]:
    prefix = f"[first/t/{step}] | "
    return [line[len(prefix):] for line in result.stdout.splitlines() if line.startswith(prefix)]


def test_crafted_branch_names_are_data_in_run_scripts(workspace, run_flowplan, repo, tmp_path):
    workspace.write(fill(INJECTION, repo=repo))
    for branch in CRAFTED_BRANCHES:
        assert ref_format_ok(branch), f"git does not accept {branch!r}"
        git(repo, "branch", branch)
    for branch in CRAFTED_BRANCHES:
        result = run_flowplan("run", "inject", "--branch", branch)
        assert result.code == 0, str(result)
        assert pwned(tmp_path) == [], branch
        assert lines_of(result, "bare") == [f"bare={branch}"], result.stdout
        assert lines_of(result, "quoted") == [f"quoted={branch}"], result.stdout
        assert lines_of(result, "env") == [f"env={branch}"], result.stdout
    recorded = [r["branch"] for r in parse_json(run_flowplan("runs", "--json"))]
    assert recorded == list(reversed(CRAFTED_BRANCHES))


CRAFTED_VALUES = [
    "$(touch PWNED) && echo *",
    "`touch PWNED2`",
    "\"; touch PWNED3; echo \"",
    "'; touch PWNED4; echo '",
]


def test_crafted_var_value_is_data_in_run_scripts(workspace, run_flowplan, repo, tmp_path):
    workspace.write(fill(INJECTION, repo=repo))
    for value in CRAFTED_VALUES:
        result = run_flowplan("run", "inject", "--var", f"goal={value}")
        assert result.code == 0, str(result)
        assert pwned(tmp_path) == [], value
        assert lines_of(result, "var_bare") == [value], (value, result.stdout)
        assert lines_of(result, "var_quoted") == [value], (value, result.stdout)
        assert lines_of(result, "var_single") == [value], (value, result.stdout)


# -- sensitive values ---------------------------------------------------------------------------

SENSITIVE = """
flowplan {
  store = "sqlite:///.flowplan/flowplan.db"
}

variable "token" {
  type      = string
  sensitive = true
  default   = "@DEFAULT@"
}

source "app" {
  url    = "@REPO@"
  branch = "master"
}

pipeline "secretive" {
  source = source.app
  cache "deps" {
    key   = "deps-${run.branch}"
    paths = ["deps"]
  }
  stage "build" {
    task "use" {
      step "print" {
        type = "command"
        run  = "echo using token ${var.token}; echo \\"quoted ${var.token}\\"; mkdir -p deps; echo cached > deps/file"
      }
      step "env" {
        type = "command"
        run  = "echo from env $TOKEN; echo stderr $TOKEN >&2"
        env = {
          TOKEN = var.token
        }
      }
      step "pack" {
        type  = "archive"
        name  = "bundle"
        paths = ["README", "deps"]
      }
    }
  }
  stage "gate" {
    task "approval" {
      step "ok" {
        type        = "manual_approval"
        approvers   = ["alice"]
        description = "token check"
      }
    }
  }
  stage "after" {
    task "deploy" {
      step "print" {
        type = "command"
        run  = "echo deploying with ${var.token}"
      }
    }
  }
}
"""

DEFAULT_TOKEN = "tok-DEFAULT-8c1f2e9a77"
GIVEN_TOKEN = "tok-GIVEN-5d03b41fe2"


def files_under_flowplan(config) -> list:
    """Every file under .flowplan/: the state, the store, caches, artifacts, workspaces. The
    steps here write no secret themselves, so any plaintext copy is flowplan's."""
    return [p for p in (config / ".flowplan").rglob("*") if p.is_file()]


def test_sensitive_variable_is_masked_and_never_stored(workspace, run_flowplan, repo):
    workspace.write(fill(SENSITIVE, repo=repo, default=DEFAULT_TOKEN))
    applied = run_flowplan("apply", "--auto-approve")
    assert applied.code == 0, str(applied)
    assert DEFAULT_TOKEN not in applied.output

    first = run_flowplan("run", "secretive")
    assert first.code == 4, str(first)
    assert "[build/use/print] | using token ***" in first.stdout
    assert "[build/use/print] | quoted ***" in first.stdout
    assert "[build/use/env] | from env ***" in first.stdout
    assert "[build/use/env] ! stderr ***" in first.stdout
    assert DEFAULT_TOKEN not in first.output

    given = run_flowplan("run", "secretive", "--var", f"token={GIVEN_TOKEN}")
    assert given.code == 4, str(given)
    assert "[build/use/print] | using token ***" in given.stdout
    assert GIVEN_TOKEN not in given.output

    # the continuation resolves the value again from the config: still masked
    approved = run_flowplan("approve", "secretive#1", "--as", "alice")
    assert approved.code == 0, str(approved)
    assert "[after/deploy/print] | deploying with ***" in approved.stdout
    assert DEFAULT_TOKEN not in approved.output

    listed = assert_ok(run_flowplan("runs", "--json")).stdout
    records = parse_json_lines(run_flowplan("logs", "secretive#1", "--json"))
    assert "using token ***" in [r["text"] for r in records]
    for text in (listed, str(records)):
        assert DEFAULT_TOKEN not in text and GIVEN_TOKEN not in text
    for ref in ("secretive#1", "secretive#2"):
        logs = assert_ok(run_flowplan("logs", ref)).stdout
        assert "using token ***" in logs and "from env ***" in logs
        shown = assert_ok(run_flowplan("runs", "show", ref, "--json")).stdout
        tree = assert_ok(run_flowplan("runs", "show", ref)).stdout
        for text in (logs, shown, tree):
            assert DEFAULT_TOKEN not in text and GIVEN_TOKEN not in text
        assert re.search(r"^artifact bundle: \S+ \(\d+ bytes, sha256 [0-9a-f]{64}\)$", tree,
                         re.M), tree
        assert json.loads(shown)["run"]["variables"]["token"] == "***"

    files = files_under_flowplan(workspace.config)
    kinds = {p.relative_to(workspace.config / ".flowplan").parts[0] for p in files}
    assert {"flowplan.db", "state.json", "artifacts", "caches", "workspaces"} <= kinds, kinds
    for path in files:
        data = path.read_bytes()
        for secret in (DEFAULT_TOKEN, GIVEN_TOKEN):
            assert secret.encode() not in data, f"{secret} in plaintext in {path}"


# -- values a run started with, when another command continues it ------------------------------

CONTINUED = """
variable "greeting" {
  type    = string
  default = "hello"
}

variable "token" {
  type      = string
  sensitive = true
  default   = "default-token-value"
}

pipeline "later" {
  variables = {
    COLOR = "red"
  }
  stage "first" {
    task "t" {
      step "s" {
        type = "command"
        run  = "echo before greeting=${var.greeting} color=$COLOR"
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
  stage "deploy" {
    task "d" {
      step "s" {
        type = "command"
        run  = "echo after greeting=${var.greeting} color=$COLOR; if [ \\"${var.token}\\" = \\"$EXPECTED_TOKEN\\" ]; then echo token-same; else echo token-different; fi"
      }
    }
  }
}
"""


def test_pipeline_variable_given_with_var_keeps_its_value_after_approve(workspace, run_flowplan):
    workspace.write(CONTINUED)
    started = run_flowplan("run", "later", "--var", "COLOR=blue")
    assert started.code == 4, str(started)
    assert "[first/t/s] | before greeting=hello color=blue" in started.stdout
    approved = run_flowplan("approve", "later#1", "--as", "alice")
    assert approved.code == 0, str(approved)
    assert "[deploy/d/s] | after greeting=hello color=blue" in approved.stdout


def test_config_variable_given_with_var_keeps_its_value_after_approve(workspace, run_flowplan):
    workspace.write(CONTINUED)
    started = run_flowplan("run", "later", "--var", "greeting=bonjour")
    assert started.code == 4, str(started)
    assert "[first/t/s] | before greeting=bonjour color=red" in started.stdout
    shown = parse_json(run_flowplan("runs", "show", "later#1", "--json"))
    assert shown["run"]["variables"]["greeting"] == "bonjour"
    approved = run_flowplan("approve", "later#1", "--as", "alice")
    assert approved.code == 0, str(approved)
    assert "[deploy/d/s] | after greeting=bonjour color=red" in approved.stdout


def test_sensitive_variable_given_with_var_is_not_silently_replaced_after_approve(
        workspace, run_flowplan):
    workspace.write(CONTINUED)
    started = run_flowplan("run", "later", "--var", "token=given-token-value")
    assert started.code == 4, str(started)
    approved = run_flowplan("approve", "later#1", "--as", "alice",
                            env={"EXPECTED_TOKEN": "given-token-value"})
    if approved.code == 0:
        assert "[deploy/d/s] | token-same" in approved.stdout, approved.stdout
    else:
        assert "token" in approved.stderr, str(approved)


REQUIRED = """
variable "token" {
  type      = string
  sensitive = true
}

pipeline "needs_token" {
  stage "first" {
    task "t" {
      step "s" {
        type = "command"
        run  = "echo using ${var.token}"
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
"""


def test_required_variable_given_with_var_lets_the_run_start(workspace, run_flowplan):
    workspace.write(REQUIRED)
    missing = run_flowplan("run", "needs_token")
    assert missing.code == 1, str(missing)
    assert "No value for required variable" in missing.stderr
    started = run_flowplan("run", "needs_token", "--var", "token=abc-123-secret")
    assert started.code == 4, str(started)
    assert "[first/t/s] | using ***" in started.stdout


def test_history_commands_work_without_the_values_of_required_variables(workspace,
                                                                        run_flowplan):
    workspace.write(REQUIRED)
    assert run_flowplan("run", "needs_token", "--var", "token=abc-123-secret").code == 4
    listed = run_flowplan("runs")
    assert listed.code == 0, str(listed)
    assert "needs_token#1" in listed.stdout
    logs = run_flowplan("logs", "needs_token#1")
    assert logs.code == 0, str(logs)
    assert "using ***" in logs.stdout


def test_continuing_a_run_asks_again_for_a_sensitive_value_given_with_var(workspace,
                                                                         run_flowplan):
    # A sensitive value is never kept, so the printed command says to give it again.
    workspace.write(REQUIRED)
    started = run_flowplan("run", "needs_token", "--var", "token=abc-123-secret")
    assert started.code == 4, str(started)
    assert "flowplan approve needs_token#1 --as alice" in started.stdout
    assert "--var token=" in started.stdout and "abc-123-secret" not in started.stdout
    refused = run_flowplan("approve", "needs_token#1", "--as", "alice")
    assert refused.code == 1 and "token" in refused.stderr, str(refused)
    approved = run_flowplan("approve", "needs_token#1", "--as", "alice",
                            "--var", "token=abc-123-secret")
    assert approved.code == 0, str(approved)

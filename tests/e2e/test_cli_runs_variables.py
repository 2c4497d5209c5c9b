"""Variables through `flowplan run`: `--var` setting a pipeline's variables for one run (read as
`run.variables.NAME` and in the step environment), config variables fixed when the plan is made (a
`--var` naming one is refused; FP_VAR_ and apply change them), the built-in FLOWPLAN_*
environment, `--branch` and `--commit` choosing what a real git repository checks out (and
`run.branch` / `run.commit_short` showing it), crafted branch names and `--var` values that must
stay data in `run` scripts, and sensitive variables resolved by each run without a person (a
default, FP_VAR_, a store secret): masked in every output, absent from flowplan's own files under
`.flowplan/`, and resolved again, and refused when changed, by the commands that continue a run.

Configs are applied once per module where they can be (`applied(CONFIG)` gives a test its copy of
the applied workspace); those naming a test's own repository are applied by that test."""

from __future__ import annotations

import json
import re

import pytest

from cli_workspace import Workspace, applied_workspace, assert_ok, copy_applied, write_and_apply
from runs_support import (fill, git, make_repository, commit_files, parse_json,
                          parse_json_lines, query, ref_format_ok, run_status, stored_log)


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """template(CONFIG): CONFIG applied once for the module, on first use."""
    made: dict[str, Workspace] = {}

    def template(config: str) -> Workspace:
        if config not in made:
            made[config] = applied_workspace(tmp_path_factory.mktemp("runs-variables"), config)
        return made[config]
    return template


@pytest.fixture
def applied(workspace, templates):
    """applied(CONFIG): this test's workspace, as a copy of CONFIG applied."""
    return lambda config: copy_applied(workspace, templates(config))


def runs_recorded(workspace) -> int:
    rows = query(workspace, "select count(*) from runs")
    return rows[0][0] if rows else 0


VARIABLES = """
variable "greeting" {
  type    = string
  default = "hello"
}

variable "env" {
  type    = string
  default = "staging"
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
        run  = "echo greeting=${var.greeting} env=${var.env} color=$COLOR size=${run.variables.SIZE}"
      }
    }
  }
}
"""


def test_var_sets_pipeline_variables_for_one_run(applied, run_flowplan):
    applied(VARIABLES)
    defaults = run_flowplan("run", "vars")
    assert defaults.code == 0, str(defaults)
    assert "[show/print/env] | greeting=hello env=staging color=red size=small" in \
        defaults.stdout

    # COLOR reaches the step's environment, SIZE the script as run.variables.SIZE
    given = run_flowplan("run", "vars", "--var", "COLOR=blue", "--var", "SIZE=large")
    assert given.code == 0, str(given)
    assert "[show/print/env] | greeting=hello env=staging color=blue size=large" in given.stdout

    # the next run without --var is back to the planned values
    again = run_flowplan("run", "vars")
    assert "[show/print/env] | greeting=hello env=staging color=red size=small" in again.stdout


def test_var_naming_a_config_variable_is_refused_saying_to_apply_or_declare_it(applied,
                                                                              run_flowplan):
    workspace = applied(VARIABLES)
    refused = run_flowplan("run", "vars", "--var", "env=prod")
    assert refused.code == 1, str(refused)
    message = refused.stderr
    assert "var.env is a config variable, fixed when the plan is made" in message, message
    assert "FP_VAR_env" in message and "`flowplan apply`" in message, message
    assert "`variables = { env = ... }` in pipeline.vars" in message, message
    assert runs_recorded(workspace) == 0


def test_var_naming_nothing_declared_is_refused_before_a_run(applied, run_flowplan):
    workspace = applied(VARIABLES)
    refused = run_flowplan("run", "vars", "--var", "NOPE=1")
    assert refused.code == 1, str(refused)
    assert 'pipeline.vars has no pipeline variable "NOPE"' in refused.stderr, refused.stderr
    assert "COLOR, SIZE" in refused.stderr
    assert runs_recorded(workspace) == 0


def test_config_variable_takes_a_new_value_when_applied_not_when_run(applied, run_flowplan):
    applied(VARIABLES)
    bonjour = {"FP_VAR_greeting": "bonjour"}
    # the run runs the applied definition, planned with "hello"; the working copy now differs
    unapplied = run_flowplan("run", "vars", env=bonjour)
    assert unapplied.code == 0, str(unapplied)
    assert "[show/print/env] | greeting=hello env=staging color=red size=small" in \
        unapplied.stdout
    assert "note: pipeline.vars differs from its applied definition" in unapplied.stderr

    assert_ok(run_flowplan("apply", "--auto-approve", env=bonjour))
    changed = run_flowplan("run", "vars", env=bonjour)
    assert changed.code == 0, str(changed)
    assert "[show/print/env] | greeting=bonjour env=staging color=red size=small" in \
        changed.stdout
    assert "note:" not in changed.stderr


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
    write_and_apply(workspace, fill(SOURCED, repo=repo))
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
    write_and_apply(workspace, fill(SOURCED, repo=repo))
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
source "app" {
  url    = "@REPO@"
  branch = "master"
}

pipeline "inject" {
  source = source.app
  variables = {
    goal = "nothing"
  }
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
        run  = "echo ${run.variables.goal}"
      }
      step "var_quoted" {
        type = "command"
        run  = "echo \\"${run.variables.goal}\\""
      }
      step "var_single" {
        type = "command"
        run  = "echo '${run.variables.goal}'"
      }
      step "var_env" {
        type = "command"
        run  = "echo \\"$goal\\""
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
    write_and_apply(workspace, fill(INJECTION, repo=repo))
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
    # `run --var goal=...` sets the pipeline variable: run.variables.goal in the script, quoted
    # where it lands, and $goal in the step's environment
    write_and_apply(workspace, fill(INJECTION, repo=repo))
    for value in CRAFTED_VALUES:
        result = run_flowplan("run", "inject", "--var", f"goal={value}")
        assert result.code == 0, str(result)
        assert pwned(tmp_path) == [], value
        assert lines_of(result, "var_bare") == [value], (value, result.stdout)
        assert lines_of(result, "var_quoted") == [value], (value, result.stdout)
        assert lines_of(result, "var_single") == [value], (value, result.stdout)
        assert lines_of(result, "var_env") == [value], (value, result.stdout)


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

    # a sensitive variable stays a reference in the definition: a value from FP_VAR_ changes no
    # definition, and the run resolves it
    given = run_flowplan("run", "secretive", env={"FP_VAR_token": GIVEN_TOKEN})
    assert given.code == 4, str(given)
    assert "[build/use/print] | using token ***" in given.stdout
    assert GIVEN_TOKEN not in given.output
    assert "note:" not in given.stderr

    # the continuation resolves the value again (the default, as the run started): still masked
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
        run  = "echo after greeting=${var.greeting} color=${run.variables.COLOR}; if [ \\"${var.token}\\" = \\"$EXPECTED_TOKEN\\" ]; then echo token-same; else echo token-different; fi"
      }
    }
  }
}
"""


def approvals(workspace) -> list[tuple]:
    return query(workspace, "select user, decision from approvals order by id")


def test_pipeline_variable_given_with_var_keeps_its_value_after_approve(applied, run_flowplan):
    applied(CONTINUED)
    started = run_flowplan("run", "later", "--var", "COLOR=blue")
    assert started.code == 4, str(started)
    assert "[first/t/s] | before greeting=hello color=blue" in started.stdout
    approved = run_flowplan("approve", "later#1", "--as", "alice")
    assert approved.code == 0, str(approved)
    assert "[deploy/d/s] | after greeting=hello color=blue" in approved.stdout


def test_approve_continues_with_the_definition_the_run_started_with(applied, run_flowplan):
    # greeting is planned into the definition; applying a new value while the run waits
    # changes later runs, not this one
    workspace = applied(CONTINUED)
    started = run_flowplan("run", "later")
    assert started.code == 4, str(started)
    assert "[first/t/s] | before greeting=hello color=red" in started.stdout
    reapplied = assert_ok(run_flowplan("apply", "--auto-approve",
                                       env={"FP_VAR_greeting": "bonjour"}))
    assert "pipeline.later will be updated in-place" in reapplied.stdout, reapplied.stdout
    approved = run_flowplan("approve", "later#1", "--as", "alice",
                            env={"EXPECTED_TOKEN": "default-token-value"})
    assert approved.code == 0, str(approved)
    assert "[deploy/d/s] | after greeting=hello color=red" in approved.stdout
    assert "[deploy/d/s] | token-same" in approved.stdout
    assert approvals(workspace) == [("alice", "approve")]


def test_approve_refuses_a_sensitive_value_changed_since_the_run_started(applied,
                                                                         run_flowplan):
    workspace = applied(CONTINUED)
    given = {"FP_VAR_token": "given-token-value", "EXPECTED_TOKEN": "given-token-value"}
    started = run_flowplan("run", "later", env=given)
    assert started.code == 4, str(started)
    # without FP_VAR_token the run would get the default: not what it started with
    refused = run_flowplan("approve", "later#1", "--as", "alice")
    assert refused.code == 1, str(refused)
    assert "var.token is sensitive and its value changed since the run started" in \
        refused.stderr, refused.stderr
    assert "default-token-value" not in refused.output
    assert approvals(workspace) == [] and run_status(workspace, "later", 1) == "waiting"

    approved = run_flowplan("approve", "later#1", "--as", "alice", env=given)
    assert approved.code == 0, str(approved)
    assert "[deploy/d/s] | token-same" in approved.stdout, approved.stdout
    assert "given-token-value" not in approved.output


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
  stage "deploy" {
    task "d" {
      step "s" {
        type = "command"
        run  = "echo deploying with ${var.token}; if [ \\"${var.token}\\" = \\"$EXPECTED_TOKEN\\" ]; then echo token-same; else echo token-different; fi"
      }
    }
  }
}
"""

REQUIRED_TOKEN = "abc-123-secret"


def test_sensitive_variable_without_a_value_is_refused_naming_where_to_set_it(applied,
                                                                             run_flowplan):
    # applied without a value: a sensitive variable used only in pipelines waits for the run
    workspace = applied(REQUIRED)
    missing = run_flowplan("run", "needs_token")
    assert missing.code == 1, str(missing)
    assert "var.token is sensitive and has no value" in missing.stderr, missing.stderr
    assert "flowplan secret set token" in missing.stderr and "FP_VAR_token" in missing.stderr
    assert runs_recorded(workspace) == 0
    started = run_flowplan("run", "needs_token", env={"FP_VAR_token": REQUIRED_TOKEN})
    assert started.code == 4, str(started)
    assert "[first/t/s] | using ***" in started.stdout
    assert REQUIRED_TOKEN not in started.output


def test_history_commands_work_without_the_values_of_required_variables(applied,
                                                                        run_flowplan):
    applied(REQUIRED)
    assert run_flowplan("run", "needs_token", env={"FP_VAR_token": REQUIRED_TOKEN}).code == 4
    listed = run_flowplan("runs")
    assert listed.code == 0, str(listed)
    assert "needs_token#1" in listed.stdout
    logs = run_flowplan("logs", "needs_token#1")
    assert logs.code == 0, str(logs)
    assert "using ***" in logs.stdout


def test_continuing_a_run_resolves_its_sensitive_value_again_without_asking(applied,
                                                                           run_flowplan):
    # Nobody types a sensitive value to continue a run: the printed command is complete, and
    # the value comes from where the run got it (here FP_VAR_token), or the approval is refused.
    workspace = applied(REQUIRED)
    given = {"FP_VAR_token": REQUIRED_TOKEN, "EXPECTED_TOKEN": REQUIRED_TOKEN}
    started = run_flowplan("run", "needs_token", env=given)
    assert started.code == 4, str(started)
    assert "flowplan approve needs_token#1 --as alice" in started.stdout
    assert "--var" not in started.stdout and REQUIRED_TOKEN not in started.stdout
    refused = run_flowplan("approve", "needs_token#1", "--as", "alice")
    assert refused.code == 1, str(refused)
    assert "var.token is sensitive and has no value" in refused.stderr, refused.stderr
    assert approvals(workspace) == []
    approved = run_flowplan("approve", "needs_token#1", "--as", "alice", env=given)
    assert approved.code == 0, str(approved)
    assert "[deploy/d/s] | token-same" in approved.stdout


STORED_TOKEN = "tok-STORED-61f0c2aa93"
SECRET_KEY = "e2e-runs-secret-key-0123456789"


def test_sensitive_variable_from_a_store_secret_is_masked_and_checked_again_by_approve(
        applied, run_flowplan):
    workspace = applied(REQUIRED)
    workspace.env["FLOWPLAN_SECRET_KEY"] = SECRET_KEY
    stored = run_flowplan("secret", "set", "token", input=STORED_TOKEN + "\n")
    assert stored.code == 0, str(stored)

    # no default, no FP_VAR_: only the store secret gives var.token a value
    started = run_flowplan("run", "needs_token")
    assert started.code == 4, str(started)
    assert "[first/t/s] | using ***" in started.stdout
    assert "using ***" in stored_log(workspace, "needs_token", 1)

    refused = run_flowplan("approve", "needs_token#1", "--as", "alice",
                           env={"FP_VAR_token": "tok-OTHER-0b7d"})
    assert refused.code == 1, str(refused)
    assert "var.token is sensitive and its value changed since the run started" in \
        refused.stderr, refused.stderr
    assert approvals(workspace) == [] and run_status(workspace, "needs_token", 1) == "waiting"

    approved = run_flowplan("approve", "needs_token#1", "--as", "alice",
                            env={"EXPECTED_TOKEN": STORED_TOKEN})
    assert approved.code == 0, str(approved)
    assert "[deploy/d/s] | deploying with ***" in approved.stdout
    assert "[deploy/d/s] | token-same" in approved.stdout
    assert approvals(workspace) == [("alice", "approve")]
    for result in (stored, started, refused, approved):
        assert STORED_TOKEN not in result.output
    for path in files_under_flowplan(workspace.config):
        assert STORED_TOKEN.encode() not in path.read_bytes(), f"the secret is in {path}"

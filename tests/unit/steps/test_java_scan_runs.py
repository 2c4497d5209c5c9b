"""java_code_scan in runs of pipelines defined in HCL, with a real git repository as the source:
findings in the step log, outputs for later steps and `when`, the summary in `runs show`, the
SARIF artifact, `fail_on`, incremental scans across commits, masking, and `flowplan validate`'s
checks of the attributes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from java_scan_support import DOC, executor, git, write

from flowplan.config.loader import load_config
from flowplan.executor.status import Status
from flowplan.views.run_text import render_run_tree

SECRET = "hunter2-Zeta-9931"

CLEAN = DOC + "public class Clean {\n}\n"
MAJOR = DOC + "public class Counts {\n    Object map = new java.util.HashMap<>();\n}\n"
CRITICAL = DOC + "public class Limits {\n    static final int maxSize = 1;\n}\n"
BLOCKER = DOC + "public class Timers {\n    Object timer = new Timer();\n}\n"


@pytest.fixture
def repository(tmp_path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "master")
    git(repo, "config", "user.name", "Ada Lovelace")
    git(repo, "config", "user.email", "ada@example.com")
    write(repo, {"src/Clean.java": CLEAN, "src/Counts.java": MAJOR, "src/Limits.java": CRITICAL,
                 "README": "java\n"})
    commit(repo, "first")
    return repo


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def hcl(repo: Path, scan: str = "", depth: str = "") -> str:
    return f"""
    variable "token" {{
      sensitive = true
    }}
    source "app" {{
      url    = "{repo}"
      branch = "master"
      {depth}
    }}
    pipeline "app" {{
      source    = source.app
      variables = {{ TOKEN = var.token }}
      stage "check" {{
        task "lint" {{
          step "scan" {{
            type        = "java_code_scan"
            sub_folder  = "src"
            incremental = true
            {scan}
          }}
          step "echo" {{
            type = "command"
            run  = "echo found ${{steps.lint.scan.total}}: ${{steps.lint.scan.critical}} critical"
          }}
        }}
      }}
      stage "publish" {{
        task "ship" {{
          when = steps.lint.scan.critical == "0"
          step "ship" {{
            type = "command"
            run  = "echo shipping"
          }}
        }}
      }}
    }}
    """


@pytest.fixture
def service(tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    made = executor.make_service(config)
    yield made
    made.store.close()


def start(service, repo: Path, **hcl_options):
    config = service.settings.workspace_dir.parents[1]
    definition, variables, sensitive = executor.load_pipeline(config, hcl(repo, **hcl_options),
                                                              "app", {"token": SECRET})
    return service.start("app", definition, variables=variables, sensitive=sensitive)


def scan_log(service, ref: str) -> list[str]:
    return executor.log_text(service, ref, task="lint", step="scan")


def test_a_scan_logs_findings_gives_outputs_to_later_steps_and_when_and_keeps_its_report(
        service, repository):
    outcome = start(service, repository)
    assert outcome.status == Status.SUCCEEDED, outcome.error
    log = scan_log(service, "app#1")
    assert "incremental: no earlier successful scan in this pipeline; scanning all files" in log
    assert "src/Counts.java:7:18 [major] CollectionInitShouldAssignCapacityRule: new HashMap() " \
           "without an initial capacity" in log
    assert "src/Limits.java:7:22 [critical] ConstantFieldShouldBeUpperCaseRule: constant " \
           "[maxSize] should be UPPER_SNAKE_CASE" in log
    assert any(line.startswith("2 findings: 0 blocker, 1 critical, 1 major (3 files scanned) in ")
               for line in log)
    steps = executor.steps_of(service, "app#1")
    assert steps[("lint", "scan")].outputs == {"blocker": "0", "critical": "1", "major": "1",
                                               "total": "2"}
    assert "found 2: 1 critical" in executor.log_text(service, "app#1", task="lint",
                                                      step="echo")
    assert executor.tasks_of(service, "app#1")["ship"].status == "skipped"

    tree = service.show("app#1")
    text = render_run_tree(tree)
    assert "2 findings: 0 blocker, 1 critical, 1 major (3 files scanned)\n" in text
    assert "src/Limits.java:7 [critical] ConstantFieldShouldBeUpperCaseRule: constant " \
           "[maxSize] should be UPPER_SNAKE_CASE\n" in text
    artifact, = tree.artifacts
    assert artifact.name == "lint.scan.sarif"
    sarif = json.loads(Path(artifact.path).read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == [
        "CollectionInitShouldAssignCapacityRule", "ConstantFieldShouldBeUpperCaseRule"]


def test_fail_on_fails_the_step_and_the_run_and_a_clean_scan_lets_when_pass(service,
                                                                              repository):
    outcome = start(service, repository, scan='fail_on = "critical"')
    assert outcome.status == Status.FAILED
    scan = executor.steps_of(service, "app#1")[("lint", "scan")]
    assert (scan.status, scan.error) == ("failed", "1 finding at or above critical")
    assert scan.outputs["critical"] == "1" and scan.summary["counts"]["total"] == 2

    (repository / "src/Limits.java").write_text(CLEAN.replace("Clean", "Limits"))
    commit(repository, "fix the constant")
    assert start(service, repository, scan='fail_on = "critical"').status == Status.SUCCEEDED
    assert executor.tasks_of(service, "app#2")["ship"].status == "succeeded"


def test_incremental_scans_only_files_changed_since_the_last_successful_scan(service,
                                                                             repository):
    first = git(repository, "rev-parse", "HEAD")
    assert start(service, repository).status == Status.SUCCEEDED

    write(repository, {"src/Timers.java": BLOCKER, "src/Counts.java": MAJOR + "// touched\n",
                       "src/notes.txt": "not java\n", "other/Outside.java": BLOCKER})
    git(repository, "rm", "-q", "src/Clean.java")
    commit(repository, "second")
    assert start(service, repository).status == Status.FAILED
    log = scan_log(service, "app#2")
    assert f"incremental: 2 files changed since run #1 (commit {first[:7]})" in log
    assert any(line.startswith("2 findings: 1 blocker, 0 critical, 1 major (2 files scanned)")
               for line in log)
    assert not any("Limits.java" in line or "Outside.java" in line for line in log)

    (repository / "src/Timers.java").write_text(CLEAN.replace("Clean", "Timers"))
    commit(repository, "third")
    assert start(service, repository).status == Status.SUCCEEDED
    log = scan_log(service, "app#3")
    # run #2 failed, so the changes are counted from run #1 still
    assert f"incremental: 2 files changed since run #1 (commit {first[:7]})" in log
    assert executor.steps_of(service, "app#3")[("lint", "scan")].outputs == {
        "blocker": "0", "critical": "0", "major": "1", "total": "1"}

    start(service, repository)
    assert "incremental: 0 files changed since run #3 (commit " \
           f"{git(repository, 'rev-parse', 'HEAD')[:7]})" in scan_log(service, "app#4")


def test_incremental_scan_of_a_shallow_clone_scans_everything_and_says_why(service,
                                                                           repository):
    first = git(repository, "rev-parse", "HEAD")
    assert start(service, repository, depth="depth = 1").status == Status.SUCCEEDED
    (repository / "src/Counts.java").write_text(CLEAN.replace("Clean", "Counts"))
    commit(repository, "second")
    assert start(service, repository, depth="depth = 1").status == Status.SUCCEEDED
    log = scan_log(service, "app#2")
    assert (f"incremental: commit {first[:12]} is not in the workspace's repository (a shallow "
            "clone, or history rewritten); scanning all files") in log
    assert any("(3 files scanned)" in line for line in log)


def test_a_secret_in_the_source_is_masked_in_the_scan_log_outputs_and_summary(service,
                                                                              repository):
    write(repository, {"src/Keys.java": DOC + "public class Keys {\n    void check(String s) {\n"
                                             f"        if (s == \"{SECRET}\") {{\n"
                                             "            return;\n        }\n    }\n}\n"})
    commit(repository, "a key in the code")
    start(service, repository)
    log = scan_log(service, "app#1")
    assert any("UndefineMagicConstantRule: magic value" in line and "***" in line
               for line in log)
    assert not any(SECRET in line for line in log)
    tree = service.show("app#1")
    assert SECRET not in render_run_tree(tree)


@pytest.mark.parametrize("attributes, problem", [
    ('sub_folder = "../elsewhere"', "must not climb out with .."),
    ('custom_rules = "/etc/passwd"', "must be a path relative to the workspace"),
    ('fail_on = "fatal"', '"fail_on"'),
    ('exclude = ["/abs/**"]', "must be a path relative to the workspace"),
    ('ruleset = "p3c"', "ruleset"),
])
def test_validate_reports_bad_attributes_at_their_location(tmp_path, attributes, problem):
    config = tmp_path / "config"
    config.mkdir()
    (config / "main.hcl").write_text(f"""
pipeline "app" {{
  stage "check" {{
    task "lint" {{
      step "scan" {{
        type = "java_code_scan"
        {attributes}
      }}
    }}
  }}
}}
""")
    loaded = load_config(config, {}, environ={})
    assert loaded.diagnostics.has_errors
    described = str(loaded.diagnostics)
    assert problem in described and "main.hcl" in described


def test_validate_accepts_every_attribute(tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "main.hcl").write_text("""
pipeline "app" {
  stage "check" {
    task "lint" {
      step "scan" {
        type         = "java_code_scan"
        sub_folder   = "services/api"
        exclude      = ["**/generated/**", "src/test/**"]
        incremental  = true
        custom_rules = ".flowplan/java-rules.yml"
        fail_on      = "critical"
      }
    }
  }
}
""")
    loaded = load_config(config, {}, environ={})
    assert not loaded.diagnostics.has_errors, loaded.diagnostics

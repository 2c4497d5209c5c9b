"""`nodejs_build` and `nodejs_test` in runs, with the real node and npm on a package without
dependencies (projects/webapp; npm is kept offline through the steps' `env`): installs with and
without a lock file, the build script, node's test runner reporting JUnit, a reporter's own JUnit
file, a missing script, a hostile package.json and a missing node. The common cases share one
run of several tasks (`node_run`)."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from steps_support import (NODE_PROJECT, config_dir, log_text, open_dir,  # noqa: F401
                           program_dir, run_hcl, step_account, steps_of, task_workspace)

from flowplan.executor.status import Status
from flowplan.views.run_text import render_run_tree, to_json

OFFLINE = 'env = { npm_config_offline = "true" }'

NODE_HCL = f"""
pipeline "web" {{
  stage "main" {{
    task "test" {{
      step "checkout" {{
        type = "command"
        run  = "cp -r PROJECT/. . && rm package-lock.json"
      }}
      step "unit" {{
        type = "nodejs_test"
        {OFFLINE}
      }}
    }}
    task "passing" {{
      step "checkout" {{
        type = "command"
        run  = "cp -r PROJECT/. ."
      }}
      step "unit" {{
        type   = "nodejs_test"
        script = "test:passing"
        {OFFLINE}
      }}
    }}
    task "build" {{
      step "checkout" {{
        type = "command"
        run  = "cp -r PROJECT/. ."
      }}
      step "bundle" {{
        type    = "nodejs_build"
        install = "none"
        {OFFLINE}
      }}
      step "package" {{
        type  = "archive"
        name  = "web"
        paths = ["dist/*"]
      }}
    }}
    task "missing" {{
      step "checkout" {{
        type = "command"
        run  = "cp -r PROJECT/. ."
      }}
      step "bundle" {{
        type   = "nodejs_build"
        script = "bundle"
        {OFFLINE}
      }}
    }}
    task "custom" {{
      step "checkout" {{
        type = "command"
        run  = "cp -r PROJECT/. ."
      }}
      step "unit" {{
        type    = "nodejs_test"
        script  = "test:custom"
        report  = "reports/junit.xml"
        install = "install"
        {OFFLINE}
      }}
    }}
  }}
}}
"""


@pytest.fixture(scope="module")
def node_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("node-run")
    made = run_hcl(directory, NODE_HCL.replace("PROJECT", str(NODE_PROJECT)), "web")
    yield made
    made.store.close()


def step_of(made, task: str, step: str, ref: str = "web#1"):
    return steps_of(made, ref)[(task, step)]


def one_step(step: str, before: str = "") -> str:
    prepare = f'step "prepare" {{\n type = "command"\n run = "{before}"\n}}\n' if before else ""
    return (f'pipeline "app" {{\n stage "main" {{\n  task "t" {{\n{prepare}'
            f'step "s" {{\n{step}\n}}\n  }}\n }}\n}}\n')


# -- one run of the common cases ---------------------------------------------------------------

def test_nodejs_test_reports_node_test_runner_totals_and_the_failing_test(node_run):
    step = step_of(node_run, "test", "unit")
    assert step.status == Status.FAILED.value and step.exit_code == 1
    assert step.error == "1 of 4 tests failed: strings > upper-cases wrongly"
    assert step.outputs == {"tests": "4", "failures": "1", "errors": "0", "skipped": "1"}
    assert step.summary["title"].startswith("Tests: 4, failures: 1, errors: 0, skipped: 1 (")
    assert step.summary["lines"][0] == ("FAILED strings > upper-cases wrongly: Expected values "
                                        "to be strictly equal:'A' !== 'B'")


def test_node_test_output_stays_readable_in_the_log_and_install_without_lock_is_npm_install(
        node_run):
    lines = log_text(node_run, "web#1", task="test", step="unit")
    assert lines[1] == "npm install: no package-lock.json"
    assert any(line.startswith("✔ adds") for line in lines)          # the spec reporter
    assert any(line.startswith("Tests: 4, failures: 1") for line in lines)


def test_the_junit_file_node_wrote_is_kept_and_shown(node_run):
    tree = node_run.show("web#1")
    artifacts = {a.name: a for a in tree.artifacts}
    data = open(artifacts["test.unit.junit.xml"].path, "rb").read()
    assert b'<testcase name="upper-cases wrongly"' in data
    text = render_run_tree(tree)
    assert "FAILED strings > upper-cases wrongly" in text
    assert '"tests": 4' in to_json(tree)


def test_a_lock_file_makes_the_install_npm_ci_and_passing_tests_succeed(node_run):
    step = step_of(node_run, "passing", "unit")
    assert step.status == Status.SUCCEEDED.value, step.error
    assert step.outputs == {"tests": "2", "failures": "0", "errors": "0", "skipped": "1"}
    lines = log_text(node_run, "web#1", task="passing", step="unit")
    assert lines[1] == "npm ci: package-lock.json found"


def test_nodejs_build_runs_the_build_script_and_its_output_can_be_archived(node_run):
    step = step_of(node_run, "build", "bundle")
    assert step.status == Status.SUCCEEDED.value, step.error
    assert "built dist/app.js" in log_text(node_run, "web#1", task="build", step="bundle")
    assert (task_workspace(node_run, "web#1", "main", "build") / "dist" / "app.js").is_file()
    assert "web" in {a.name for a in node_run.show("web#1").artifacts}


def test_a_script_missing_from_package_json_lists_the_scripts_there(node_run):
    step = step_of(node_run, "missing", "bundle")
    assert step.error == ('package.json has no "bundle" script (its scripts: build, test, '
                          "test:custom, test:passing)")
    assert log_text(node_run, "web#1", task="missing", step="bundle") == []   # nothing ran


def test_a_reporters_own_junit_file_is_read_from_report(node_run):
    step = step_of(node_run, "custom", "unit")
    assert step.error == "1 of 2 tests failed: checkout totals.rounds"
    assert step.summary["title"] == "Tests: 2, failures: 1, errors: 0, skipped: 0 (500 ms)"
    assert step.summary["lines"][:3] == [
        "FAILED checkout totals.rounds: expected 10.01 to equal 10",
        "    AssertionError: expected 10.01 to equal 10",
        "        at Context.it (checkout.test.js:12:5)"]


# -- one run each ------------------------------------------------------------------------------

def test_a_test_script_not_using_node_test_runner_says_there_is_no_report(config_dir, tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "package.json").write_text(json.dumps({"scripts": {"test": "echo all good"}}))
    made = run_hcl(config_dir, one_step(f'type = "nodejs_test"\ninstall = "none"\n{OFFLINE}',
                                        before=f"cp -r {package}/. ."))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.status == Status.SUCCEEDED.value and not step.outputs
    assert step.summary["title"] == (
        "no JUnit report: `npm run test` did not run node's test runner (node --test); set "
        "report to the JUnit file your test reporter writes")


@pytest.mark.parametrize("content, error", [
    (None, "no package.json in ."),
    (b"{not json", "package.json is not valid JSON: Expecting property name enclosed in "
                   "double quotes: line 1 column 2 (char 1)"),
    (b"[1, 2]", "package.json is not a JSON object"),
    (b'{"scripts": "build"}', 'package.json: "scripts" is not an object'),
    (b"[" * 100_000 + b"]" * 100_000, "package.json is not valid JSON: maximum recursion depth "
                                      "exceeded"),
    (b" " * (1024 * 1024 + 1), "package.json is larger than 1 MiB"),
])
def test_a_hostile_or_broken_package_json_is_a_clear_error(config_dir, tmp_path, content, error):
    package = tmp_path / "pkg"
    package.mkdir()
    if content is not None:
        (package / "package.json").write_bytes(content)
    (package / "keep").write_text("")
    made = run_hcl(config_dir, one_step(f'type = "nodejs_build"\n{OFFLINE}',
                                        before=f"cp -r {package}/. ."))
    assert steps_of(made, "app#1")[("t", "s")].error.startswith(error)


def test_a_package_json_linking_out_of_the_workspace_is_refused(config_dir):
    made = run_hcl(config_dir, one_step(f'type = "nodejs_build"\n{OFFLINE}',
                                        before="ln -s /etc/passwd package.json"))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.error.startswith("file 'package.json' escapes ")
    assert "root:" not in step.error


def test_a_report_path_leading_out_of_the_workspace_is_refused(config_dir, tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "package.json").write_text(json.dumps({"scripts": {"test": "true"}}))
    made = run_hcl(config_dir, one_step(
        f'type = "nodejs_test"\ninstall = "none"\nreport = "../../../../etc/passwd"\n{OFFLINE}',
        before=f"cp -r {package}/. ."))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.status == Status.FAILED.value
    assert step.summary["unreadable"][0].startswith("../../../../etc/passwd: refused: report "
                                                    "path ")
    assert "root:x" not in json.dumps(step.summary)


def test_a_missing_node_is_an_error_naming_it_and_its_package(config_dir, tmp_path):
    nothing = program_dir(tmp_path)
    made = run_hcl(config_dir, one_step(f'type = "nodejs_test"\nenv = {{ PATH = "{nothing}" }}'))
    assert steps_of(made, "app#1")[("t", "s")].error.startswith(
        f"node is not on the step's PATH ({nothing}): install Node.js (Debian package nodejs), "
        'or declare one in the settings, flowplan { tools { node = { "20" = "/usr" } } }')


def test_a_declared_node_is_the_one_npm_and_the_scripts_run(config_dir, tmp_path):
    prefix = tmp_path / "node20"
    (prefix / "bin").mkdir(parents=True)
    found = program_dir(tmp_path, "node", "npm")
    for program in ("node", "npm"):
        (prefix / "bin" / program).symlink_to(os.path.realpath(found / program))
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "package.json").write_text(json.dumps(
        {"scripts": {"build": "node -e \"console.log('node at ' + process.execPath)\""}}))
    made = run_hcl(config_dir, one_step(f'type = "nodejs_build"\nnode = 20\ninstall = "none"',
                                        before=f"cp -r {package}/. ."),
                   tools={"node": {"20": str(prefix)}})
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.status == Status.SUCCEEDED.value, step.error
    lines = log_text(made, "app#1", step="s")
    assert lines[0] == f"node {prefix}/bin/node, npm {prefix}/bin/npm"


def test_a_script_name_that_is_an_option_is_refused_at_load(config_dir):
    from steps_support import load_pipeline

    with pytest.raises(AssertionError, match="not a script name"):
        load_pipeline(config_dir, one_step('type = "nodejs_build"\nscript = "--prefix=/"'),
                      "app")


def test_with_run_as_node_writes_its_junit_report_as_the_step_user(step_account, open_dir):
    from steps_support import STEP_USER, copy_project

    project = copy_project(NODE_PROJECT, open_dir / "webapp")
    for path in [project, *project.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    made = run_hcl(open_dir, f"""
        pipeline "web" {{
          stage "main" {{
            task "unit" {{
              step "checkout" {{
                type = "command"
                run  = "cp -r {project}/. ."
              }}
              step "unit" {{
                type   = "nodejs_test"
                script = "test:passing"
                {OFFLINE}
              }}
            }}
          }}
        }}
    """, "web", run_as=STEP_USER)
    try:
        step = steps_of(made, "web#1")[("unit", "unit")]
        assert step.status == Status.SUCCEEDED.value, step.error
        assert step.outputs == {"tests": "2", "failures": "0", "errors": "0", "skipped": "1"}
        assert "unit.unit.junit.xml" in {a.name for a in made.show("web#1").artifacts}
        workspace = task_workspace(made, "web#1", "main", "unit")
        assert os.stat(workspace / "package-lock.json").st_uid == step_account.pw_uid
    finally:
        made.store.close()


def test_the_timeout_covers_the_install_and_the_script_together(config_dir, tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "package.json").write_text(json.dumps(
        {"scripts": {"build": "node -e \"setTimeout(() => {}, 30000)\""}}))
    made = run_hcl(config_dir, one_step(f'type = "nodejs_build"\ntimeout = "2s"\n{OFFLINE}',
                                        before=f"cp -r {package}/. ."))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.error.startswith("timed out: the step's timeout of 2s ran out")
    assert step.finished_at - step.started_at < timedelta(seconds=2.9)


def test_a_test_script_choosing_its_own_reporters_gets_none_added(config_dir, tmp_path):
    package = tmp_path / "pkg"
    (package / "test").mkdir(parents=True)
    (package / "test" / "a.test.js").write_text(
        "require('node:test')('passes', () => {});\n")
    (package / "package.json").write_text(json.dumps(
        {"scripts": {"test": "node --test --test-reporter=tap test/"}}))
    made = run_hcl(config_dir, one_step(f'type = "nodejs_test"\ninstall = "none"\n{OFFLINE}',
                                        before=f"cp -r {package}/. ."))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.status == Status.SUCCEEDED.value, step.error
    assert step.summary["title"] == (
        "no JUnit report: the test script chooses its own test reporters (--test-reporter); "
        "set report to the JUnit file one of them writes")
    assert "ok 1 - passes" in log_text(made, "app#1", step="s")


def test_script_names_with_terminal_escapes_are_listed_harmlessly(config_dir, tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "package.json").write_text(json.dumps(
        {"scripts": {"\u001b[2Jclear": "true", "lint": "true"}}))
    made = run_hcl(config_dir, one_step(f'type = "nodejs_build"\n{OFFLINE}',
                                        before=f"cp -r {package}/. ."))
    assert steps_of(made, "app#1")[("t", "s")].error == \
        'package.json has no "build" script (its scripts: ?[2Jclear, lint)'

"""Run-time evaluation of deferred pipeline values, and shell scripts that stay safe when a branch
name or a step output is hostile."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flowplan.config.expressions import Scope
from flowplan.config.functions import build_functions
from flowplan.config.partial import Folder
from flowplan.config.runtime import RunContext, RuntimeEvaluationError, render_script, resolve
from flowplan.config.syntax import parse_expression
from flowplan.values import KNOWN_AT_RUN_TIME

HOSTILE = [
    "x; touch PWNED",
    "$(touch PWNED)",
    "`touch PWNED`",
    "x' ; touch PWNED ; echo '",
    'x" ; touch PWNED ; echo "',
    "x\ntouch PWNED",
    "x && touch PWNED",
    "${IFS}touch${IFS}PWNED",
]


def context(workspace: Path, run: dict | None = None, **kwargs) -> RunContext:
    kwargs.setdefault("variables", {"token": "hunter2", "goal": "verify"})
    kwargs.setdefault("sensitive", {"token"})
    kwargs.setdefault("step_outputs", {})
    return RunContext(run=run or {"branch": "main", "number": 7, "commit": "abc123"},
                      workspace=workspace, config_dir=workspace, **kwargs)


class _AtRunTime:
    def lookup(self, name: str, line: int, column: int):
        return KNOWN_AT_RUN_TIME


def deferred(source: str, sensitive: bool = False) -> dict:
    """The deferred marker the planner stores for an attribute written as `source` (HCL), in
    a pipeline where every name is known only at run time."""
    node, problems = parse_expression(source)
    assert node is not None, problems
    functions = dict(build_functions(Path(".")))
    functions["hash_files"] = lambda *patterns: KNOWN_AT_RUN_TIME
    roots = {root: _AtRunTime() for root in ("run", "steps", "var", "acr_repository")}
    marker = Folder(Scope(roots, functions), lambda name: None).value(node, KNOWN_AT_RUN_TIME)
    return {**marker, "sensitive": sensitive}


def run_bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True,
                          timeout=30)


def pipeline_step(load, run_attribute: str, prelude: str = "", **kwargs) -> dict:
    config = load(prelude + 'pipeline "p" {\n  stage "s" {\n    task "t" {\n      step "x" {\n'
                  f'        type = "command"\n        run = {run_attribute}\n'
                  "      }\n    }\n  }\n}\n", **kwargs)
    assert [(str(d.range), d.summary) for d in config.diagnostics] == []
    return config.resources["pipeline.p"].attributes["stages"]["s"]["tasks"]["t"]["steps"]["x"]


# -- resolve --------------------------------------------------------------------------------------

def test_resolve_evaluates_run_facts(tmp_path):
    ctx = context(tmp_path)
    assert resolve(deferred('"build-${run.number}-${run.branch}"'), ctx) == "build-7-main"
    assert resolve(deferred("run.number + 1"), ctx) == 8


def test_resolve_walks_maps_and_lists_and_keeps_plain_values(tmp_path):
    ctx = context(tmp_path)
    value = {"env": {"BRANCH": deferred("run.branch"), "CI": "1"},
             "args": [deferred('"-Dsha=${run.commit}"'), "-B"], "retries": 2, "none": None}
    assert resolve(value, ctx) == {"env": {"BRANCH": "main", "CI": "1"},
                                   "args": ["-Dsha=abc123", "-B"], "retries": 2, "none": None}


def test_resolve_gives_the_plain_value_of_a_sensitive_variable(tmp_path):
    assert resolve(deferred('"login ${var.token}"', sensitive=True),
                   context(tmp_path)) == "login hunter2"


def test_resolve_reads_earlier_step_outputs_and_resources(tmp_path):
    ctx = context(tmp_path, step_outputs={"build": {"outputs": {"version": "1.2.3"}}},
                  resources={"acr_repository.app": {"id": "cr-9", "name": "app"}})
    assert resolve(deferred('"${acr_repository.app.id}:${steps.build.outputs.version}"'),
                   ctx) == "cr-9:1.2.3"


def test_resolve_hash_files_reads_the_workspace(tmp_path):
    (tmp_path / "pom.xml").write_text("<p/>")
    ctx = context(tmp_path)
    key = resolve(deferred('"maven-${hash_files("**/pom.xml")}"'), ctx)
    assert key.startswith("maven-") and len(key) == len("maven-") + 64
    (tmp_path / "pom.xml").write_text("<p>2</p>")
    assert resolve(deferred('"maven-${hash_files("**/pom.xml")}"'), ctx) != key


def test_resolve_of_an_unavailable_name_raises_a_runtime_error_naming_it(tmp_path):
    with pytest.raises(RuntimeEvaluationError, match=r"run\.tag is not available"):
        resolve(deferred("run.tag"), context(tmp_path))


def test_resolve_round_trips_a_deferred_value_from_the_loader(load, config_dir):
    step = pipeline_step(load, '"git checkout ${run.branch} # ${var.token}"',
                         'variable "token" {\n  sensitive = true\n  default = "t0k"\n}\n')
    assert step["run"]["sensitive"] is True
    ctx = context(config_dir, variables={"token": "t0k"})
    assert resolve(step["run"], ctx) == "git checkout main # t0k"


def test_secret_values_lists_sensitive_variables_for_masking(tmp_path):
    ctx = context(tmp_path, variables={"token": "hunter2", "goal": "verify", "pin": 1234},
                  sensitive={"token", "pin", "absent"})
    assert sorted(ctx.secret_values()) == ["1234", "hunter2"]


# -- render_script --------------------------------------------------------------------------------

def test_render_script_returns_a_plain_script_unchanged(tmp_path):
    assert render_script("make test", context(tmp_path)) == "make test"


def test_render_script_quotes_untrusted_values_but_not_config_values(tmp_path):
    ctx = context(tmp_path, run={"branch": "feature/x y"})
    script = render_script(deferred('"git checkout ${run.branch} && ${upper("make")}"'), ctx)
    assert script == "git checkout 'feature/x y' && MAKE"


@pytest.mark.parametrize("branch", HOSTILE)
def test_hostile_branch_name_stays_one_word_of_data_when_run_with_bash(load, config_dir,
                                                                       branch):
    step = pipeline_step(load, '"printf \'%s\\\\n\' ${run.branch}"')
    script = render_script(step["run"], context(config_dir, run={"branch": branch}))
    result = run_bash(script, config_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == branch + "\n"
    assert not (config_dir / "PWNED").exists()


@pytest.mark.parametrize("output", HOSTILE)
def test_hostile_step_output_in_a_heredoc_script_is_not_executed(tmp_path, output):
    ctx = context(tmp_path, step_outputs={"build": {"version": output}})
    script = render_script(deferred("<<-EOT\n  echo start\n  printf '%s\\n' "
                                    "${steps.build.version}\nEOT"), ctx)
    result = run_bash(script, tmp_path)
    assert result.stdout == "start\n" + output + "\n", result.stderr
    assert not (tmp_path / "PWNED").exists()


def test_hostile_run_value_alone_is_quoted(tmp_path):
    ctx = context(tmp_path, run={"branch": "$(touch PWNED)"})
    script = render_script(deferred("run.branch"), ctx)
    run_bash(f"echo {script}", tmp_path)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("script", [
    '<<-EOT\n  echo "Deploying ${run.branch}"\nEOT',
    "<<-EOT\n  echo 'Deploying ${run.branch}'\nEOT",
    '<<-EOT\n  echo "Deploying $(printf %s "${run.branch}")"\nEOT',
    "<<-EOT\n  cat <<MSG\n  Deploying ${run.branch}\n  MSG\nEOT",
    '<<-EOT\n  BRANCH=${run.branch}\n  echo "Deploying $BRANCH"\nEOT',
    '<<-EOT\n  echo "Deploying" # ${run.branch}\nEOT',
])
@pytest.mark.parametrize("branch", HOSTILE)
def test_hostile_branch_in_any_quoting_context_is_not_executed(tmp_path, script, branch):
    ctx = context(tmp_path, run={"branch": branch})
    result = run_bash(render_script(deferred(script), ctx), tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "PWNED").exists()
    if "#" not in script:
        assert result.stdout.rstrip("\n") == f"Deploying {branch}"


def test_value_in_a_place_the_renderer_cannot_quote_is_refused(tmp_path):
    from flowplan.executor.step_process.shellquote import ShellTemplateError

    ctx = context(tmp_path, run={"branch": "$(touch PWNED)"})
    with pytest.raises(ShellTemplateError):
        render_script(deferred('"echo `echo ${run.branch}`"'), ctx)
    assert not (tmp_path / "PWNED").exists()


def test_hostile_pipeline_variable_in_a_script_is_not_executed(load, config_dir):
    hostile = "$(touch PWNED)"
    step = pipeline_step(load, '"echo ${run.variables.goal}"')
    script = render_script(step["run"], context(config_dir, run={"variables": {"goal": hostile}}))
    result = run_bash(script, config_dir)
    assert result.stdout == hostile + "\n"
    assert not (config_dir / "PWNED").exists()


def test_config_variable_is_pasted_into_the_script_at_plan_time(load, config_dir):
    """A config variable is a plan-time input: its value is in the planned script, where the
    plan shows it for review, and only the run-time part is left for the run."""
    step = pipeline_step(load, '"./deploy.sh ${var.env} ${run.commit_short}"',
                         'variable "env" {\n  default = "x"\n}\n', variables={"env": "staging"})
    assert step["run"] == {"$deferred": "./deploy.sh staging ${run.commit_short}",
                           "sensitive": False}
    script = render_script(step["run"], context(config_dir, run={"commit_short": "ab12"}))
    assert script == "./deploy.sh staging ab12"

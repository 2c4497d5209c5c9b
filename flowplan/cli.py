"""The `flowplan` command line: thin typer commands over flowplan.engine and the views.

Each command parses its options, calls one core function, renders the result and returns an exit
code. Heavy modules are imported inside the commands, so `flowplan --help` starts fast.
Colours are used on a terminal unless NO_COLOR is set; piped output is plain text.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer

app = typer.Typer(
    name="flowplan",
    help="CI/CD pipelines declared in HCL: plan, apply, then run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
state_app = typer.Typer(help="Inspect and edit the state.", no_args_is_help=True)
app.add_typer(state_app, name="state")

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class Options:
    directory: Path = Path(".")


OPTIONS = Options()


@app.callback()
def main_options(
    directory: Path = typer.Option(Path("."), "-C", "--chdir", help="Config directory.",
                                   show_default=False),
) -> None:
    """CI/CD pipelines declared in HCL: plan, apply, then run them."""
    OPTIONS.directory = directory


# -- output ---------------------------------------------------------------------------------------

def use_color(stream=None) -> bool:
    stream = stream or sys.stdout
    return stream.isatty() and not os.environ.get("NO_COLOR")


def out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    sys.stdout.flush()


def err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


def fail_with_diagnostics(exc, texts: dict[str, str] | None = None) -> int:
    from flowplan.views import render_diagnostics, summary_line

    diagnostics = exc.diagnostics.sorted()
    err(render_diagnostics(diagnostics, texts or {}, use_color(sys.stderr)).rstrip("\n"))
    err(f"\n{summary_line(diagnostics)}.")
    return EXIT_ERROR


def _variables(values: list[str] | None) -> dict[str, str]:
    from flowplan.config.variables import parse_assignment

    result = {}
    for item in values or []:
        try:
            name, value = parse_assignment(item)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        result[name] = value
    return result


def _load(variables: list[str] | None, with_state: bool = True):
    """The workspace, or an exit code after printing diagnostics."""
    from flowplan import engine
    from flowplan.diagnostics import DiagnosticsError

    try:
        return engine.load(OPTIONS.directory, _variables(variables), with_state=with_state)
    except DiagnosticsError as exc:
        return fail_with_diagnostics(exc, exc.texts)


def _run_guarded(function, *args, **kwargs) -> int:
    """Call a command body, turning expected failures into messages and exit code 1."""
    from flowplan.apply import StalePlanError
    from flowplan.diagnostics import DiagnosticsError
    from flowplan.state import StateError

    try:
        return function(*args, **kwargs)
    except DiagnosticsError as exc:
        return fail_with_diagnostics(exc, exc.texts)
    except (StateError, StalePlanError) as exc:
        err(f"Error: {exc}")
        return EXIT_ERROR


def _exit(code: int) -> None:
    raise typer.Exit(code)


VarOption = typer.Option(None, "--var", help="Set a variable: --var NAME=VALUE (repeatable).")


# -- validate ------------------------------------------------------------------------------------

@app.command()
def validate(var: Optional[List[str]] = VarOption) -> None:
    """Check the config for mistakes without touching the state or any real system."""
    workspace = _load(var, with_state=False)
    if isinstance(workspace, int):
        _exit(workspace)
    resources = len(workspace.config.resources)
    out(f"Success! The configuration is valid ({resources} resource"
        f"{'s' if resources != 1 else ''}).")


# -- plan ----------------------------------------------------------------------------------------

@app.command()
def plan(
    var: Optional[List[str]] = VarOption,
    out_file: Optional[Path] = typer.Option(None, "--out", help="Save the plan to FILE for apply."),
    json_output: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the plan as Markdown for a "
                                  "pull-request comment."),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode",
                                           help="Exit 0 without changes, 1 on error, 2 with "
                                           "changes."),
    refresh: bool = typer.Option(True, "--refresh/--no-refresh",
                                 help="Read the real objects before planning."),
    target: Optional[List[str]] = typer.Option(None, "--target",
                                               help="Plan only ADDR and what it depends on."),
    replace: Optional[List[str]] = typer.Option(None, "--replace",
                                                help="Plan to replace ADDR even if unchanged."),
    destroy: bool = typer.Option(False, "--destroy", help="Plan to destroy everything."),
    parallelism: int = typer.Option(10, "--parallelism", min=1),
) -> None:
    """Show what apply would change: the config compared with the state."""
    from flowplan.plan.planner import PlanOptions

    options = PlanOptions(refresh=refresh, targets=tuple(target or ()),
                          replace=tuple(replace or ()), destroy=destroy, parallelism=parallelism)

    def body() -> int:
        from flowplan import engine
        from flowplan.views import render_plan_human, render_plan_json, render_plan_markdown

        workspace = _load(var)
        if isinstance(workspace, int):
            return workspace
        result = engine.plan(workspace, options, on_event=_progress(quiet=json_output or markdown))
        if out_file is not None:
            try:
                result.save(out_file)
            except OSError as exc:
                err(f"Error: cannot save the plan to {out_file}: {exc.strerror or exc}")
                return EXIT_ERROR
        if json_output:
            out(render_plan_json(result))
        elif markdown:
            out(render_plan_markdown(result))
        else:
            out(render_plan_human(result, use_color()))
            if out_file is not None:
                out(f"\nSaved the plan to: {out_file}\n\nTo perform exactly these actions, run:\n"
                    f"    flowplan apply {out_file}")
        if detailed_exitcode and result.has_changes:
            return EXIT_CHANGES
        return EXIT_OK

    _exit(_run_guarded(body))


def _progress(quiet: bool = False):
    from flowplan.views.progress_text import render_event

    def on_event(event: object) -> None:
        if quiet:
            return
        line = render_event(event)
        if line:
            err(line) if not sys.stdout.isatty() else out(line)
    return on_event


# -- apply / destroy ---------------------------------------------------------------------------

@app.command()
def apply(
    plan_file: Optional[Path] = typer.Argument(None, help="A plan saved with plan --out."),
    var: Optional[List[str]] = VarOption,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Skip the yes prompt."),
    refresh: bool = typer.Option(True, "--refresh/--no-refresh"),
    target: Optional[List[str]] = typer.Option(None, "--target"),
    replace: Optional[List[str]] = typer.Option(None, "--replace"),
    parallelism: int = typer.Option(10, "--parallelism", min=1,
                                    help="How many resources to change at once."),
) -> None:
    """Provision the config: plan, ask for yes, then apply (or apply a saved plan)."""
    from flowplan.plan.planner import PlanOptions

    options = PlanOptions(refresh=refresh, targets=tuple(target or ()),
                          replace=tuple(replace or ()), parallelism=parallelism)
    _exit(_run_guarded(_apply, var, plan_file, options, auto_approve or plan_file is not None,
                       "apply"))


@app.command()
def destroy(
    var: Optional[List[str]] = VarOption,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Skip the yes prompt."),
    target: Optional[List[str]] = typer.Option(None, "--target"),
    parallelism: int = typer.Option(10, "--parallelism", min=1),
) -> None:
    """Destroy everything the state records (or the targets and what depends on them)."""
    from flowplan.plan.planner import PlanOptions

    options = PlanOptions(destroy=True, targets=tuple(target or ()), parallelism=parallelism)
    _exit(_run_guarded(_apply, var, None, options, auto_approve, "destroy"))


def _apply(var, plan_file: Path | None, options, auto_approve: bool, verb: str) -> int:
    from flowplan import engine
    from flowplan.plan.model import Plan
    from flowplan.views import render_diagnostics, render_plan_human

    saved = None
    if plan_file is not None:
        try:
            saved = Plan.load(plan_file)
        except (OSError, ValueError) as exc:
            err(f"Error: cannot read the plan {plan_file}: {exc}")
            return EXIT_ERROR
    workspace = _load(var)
    if isinstance(workspace, int):
        return workspace

    def confirm(the_plan) -> bool:
        if saved is None:
            out(render_plan_human(the_plan, use_color()))
        if auto_approve:
            return True
        question = ("Do you really want to destroy all resources?" if verb == "destroy"
                    else "Do you want to perform these actions?")
        out(f"{question}\n  flowplan will perform the actions described above.\n"
            "  Only 'yes' will be accepted to approve.\n")
        sys.stdout.write("  Enter a value: ")
        sys.stdout.flush()
        answer = sys.stdin.readline().strip()
        out("")
        if answer != "yes":
            out(f"{verb.capitalize()} cancelled.")
            return False
        return True

    the_plan, result = engine.apply(workspace, saved, options, confirm, _progress())
    if result is None:
        if not the_plan.has_changes:
            out(render_plan_human(the_plan, use_color()))
            out(f"{'Destroy' if verb == 'destroy' else 'Apply'} complete! Resources: 0 added, "
                "0 changed, 0 destroyed.")
            return EXIT_OK
        return EXIT_ERROR
    if result.diagnostics.items:
        err(render_diagnostics(result.diagnostics.sorted(), workspace.config.texts,
                               use_color(sys.stderr)).rstrip("\n"))
    if not result.ok:
        err(f"\nError: {len(result.failed)} resource(s) failed: {', '.join(result.failed)}. "
            f"What succeeded is in the state; fix the error and run flowplan {verb} again.")
        return EXIT_ERROR
    noun = "Destroy" if verb == "destroy" else "Apply"
    out(f"\n{noun} complete! Resources: {result.added} added, {result.changed} changed, "
        f"{result.destroyed} destroyed.")
    return EXIT_OK


# -- show / state ----------------------------------------------------------------------------

@app.command()
def show(
    plan_file: Optional[Path] = typer.Argument(None, help="A saved plan to show instead."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Show the state, or a saved plan."""
    def body() -> int:
        import json

        from flowplan.views import render_plan_human, render_plan_json
        from flowplan.views.state_text import render_state

        if plan_file is not None:
            from flowplan.plan.model import Plan
            try:
                saved = Plan.load(plan_file)
            except (OSError, ValueError) as exc:
                err(f"Error: cannot read the plan {plan_file}: {exc}")
                return EXIT_ERROR
            out(render_plan_json(saved) if json_output else render_plan_human(saved, use_color()))
            return EXIT_OK
        state = _backend().read()
        out(json.dumps(state.to_dict(), indent=2) if json_output else render_state(state))
        return EXIT_OK
    _exit(_run_guarded(body))


def _backend():
    """The state backend named by the config's settings, without evaluating the whole config."""
    from flowplan import engine
    from flowplan.config.loader import load_config

    config = load_config(OPTIONS.directory)
    settings = config.settings if not config.diagnostics.has_errors else None
    return engine.backend_for(OPTIONS.directory, settings)


@state_app.command("list")
def state_list() -> None:
    """List the addresses in the state."""
    from flowplan.views.state_text import render_state_list

    _exit(_run_guarded(lambda: out(render_state_list(_backend().read())) or EXIT_OK))


@state_app.command("show")
def state_show(address: str = typer.Argument(..., help="Resource address, e.g. pipeline.app")) -> None:
    """Show one resource's recorded attributes."""
    from flowplan.views.state_text import render_resource

    def body() -> int:
        resource = _backend().read().get(address)
        if resource is None:
            err(f"Error: {address} is not in the state.")
            return EXIT_ERROR
        out(render_resource(resource))
        return EXIT_OK
    _exit(_run_guarded(body))


@state_app.command("rm")
def state_rm(address: str = typer.Argument(..., help="Resource address to forget.")) -> None:
    """Forget a resource without destroying it."""
    def body() -> int:
        backend = _backend()
        with backend.lock("state rm"):
            state = backend.read()
            if state.remove(address) is None:
                err(f"Error: {address} is not in the state.")
                return EXIT_ERROR
            backend.write(state)
        out(f"Removed {address}\nSuccessfully removed 1 resource instance(s).")
        return EXIT_OK
    _exit(_run_guarded(body))


@app.command("force-unlock")
def force_unlock(lock_id: str = typer.Argument(..., help="The lock id shown by the error.")) -> None:
    """Remove a state lock left behind by a process that died."""
    def body() -> int:
        _backend().force_unlock(lock_id)
        out("flowplan state has been successfully unlocked!")
        return EXIT_OK
    _exit(_run_guarded(body))


@app.command()
def graph(var: Optional[List[str]] = VarOption) -> None:
    """Print the resource dependency graph in DOT (pipe it to `dot -Tsvg`)."""
    from flowplan.graph import Graph

    workspace = _load(var, with_state=False)
    if isinstance(workspace, int):
        _exit(workspace)
    dependency_graph = Graph()
    for address, resource in workspace.config.resources.items():
        dependency_graph.add_node(address)
        for dependency in resource.dependencies:
            dependency_graph.add_edge(address, dependency)
    out(dependency_graph.to_dot())


# -- runs --------------------------------------------------------------------------------------

EXIT_WAITING = 4


def _user(explicit: str | None) -> str:
    if explicit:
        return explicit
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def _run_setup(var: list[str] | None, recorded: dict[str, str] | None = None):
    """(workspace, run setup, pipeline overrides) or an exit code after printing why not.

    `recorded` holds values a run started with (as text): they count as given, below `var`."""
    from flowplan import engine

    given = {**(recorded or {}), **_variables(var)}
    declared = _declared_variables()
    config_vars = {k: v for k, v in given.items() if k in declared}
    overrides = {k: v for k, v in given.items() if k not in declared}
    # Sensitive variables may come from secrets kept in the store; --var still wins.
    config_vars = {**engine.stored_secret_values(OPTIONS.directory), **config_vars}
    workspace = _load(list(f"{k}={v}" for k, v in config_vars.items()))
    if isinstance(workspace, int):
        return workspace
    return workspace, engine.run_setup(workspace), overrides


def _declared_variables() -> set[str]:
    """Declared variable names, also those without a value yet."""
    from flowplan.config.files import config_files, parse_sources, read_sources

    try:
        sources = read_sources(config_files(OPTIONS.directory))
    except OSError:
        return set()
    names = set()
    for syntax in parse_sources(sources, OPTIONS.directory):
        names.update(b.labels[0] for b in syntax.body.blocks if b.type == "variable" and b.labels)
    return names


def _progress_sink():
    """A context manager giving the event sink: a live tree on a terminal, lines otherwise."""
    import contextlib

    from flowplan.views.run_text import LiveProgress, PlainProgress

    if use_color():
        from rich.console import Console

        return LiveProgress(Console())
    return contextlib.nullcontext(PlainProgress(out))


def _finish(outcome) -> int:
    status = getattr(outcome.status, "value", outcome.status)
    if status == "succeeded":
        return EXIT_OK
    if status == "waiting":
        return EXIT_WAITING
    if status == "running":
        out(f"{outcome.run} is driven by {outcome.driven_by}; it will continue there.")
        return EXIT_OK
    return EXIT_ERROR


def _guard_runs(function) -> int:
    from flowplan.executor.errors import RunServiceError
    from flowplan.executor.secrets import SecretError

    try:
        return _run_guarded(function)
    except (RunServiceError, SecretError) as exc:
        err(f"Error: {exc}")
        return EXIT_ERROR


@app.command()
def run(
    pipeline: str = typer.Argument(..., help="The pipeline to run (its name)."),
    var: Optional[List[str]] = VarOption,
    branch: Optional[str] = typer.Option(None, "--branch", help="Check out this branch."),
    commit: Optional[str] = typer.Option(None, "--commit", help="Check out this commit."),
    user: Optional[str] = typer.Option(None, "--as", help="Who starts the run."),
    parallelism: Optional[int] = typer.Option(None, "--parallelism", min=1,
                                              help="Tasks of the run at once."),
) -> None:
    """Run a pipeline here and now; exits 0 succeeded, 1 failed or canceled, 4 waiting."""
    def body() -> int:
        from flowplan import engine

        setup = _run_setup(var)
        if isinstance(setup, int):
            return setup
        workspace, runs, overrides = setup
        definition = engine.pipeline_to_run(workspace, runs.service, pipeline)
        if overrides:
            unknown = sorted(set(overrides) - set(definition.get("variables") or {}))
            if unknown:
                err(f"Error: --var {unknown[0]}=...: no variable \"{unknown[0]}\" is declared, "
                    f"and pipeline {pipeline} has no variable of that name.")
                return EXIT_ERROR
            definition = {**definition,
                          "variables": {**definition.get("variables", {}), **overrides}}
        with _progress_sink() as sink:
            outcome = runs.service.start(pipeline, definition, variables=runs.variables,
                                         sensitive=runs.sensitive, branch=branch, commit=commit,
                                         trigger="manual", user=_user(user),
                                         parallelism=parallelism, on_event=sink)
        given_secrets = sorted(runs.sensitive.intersection(_variables(var)))
        if getattr(outcome.status, "value", outcome.status) == "waiting" and given_secrets:
            again = " ".join(f"--var {name}=..." for name in given_secrets)
            out(f"    Sensitive values are not kept: add {again} to continue the run.")
        return _finish(outcome)
    _exit(_guard_runs(body))


def _continue(call, run_ref: str, var: list[str] | None) -> int:
    """Run `call(run_setup, event_sink)` for a command that continues a run: the config is
    loaded with the values the run started with (so variables given then need not be given
    again), below any `--var` given now."""
    def body() -> int:
        import json

        from flowplan.values import is_sensitive_marker

        started_with = _store().get(run_ref).variables
        recorded = {name: value if isinstance(value, str) else json.dumps(value)
                    for name, value in started_with.items()
                    if value != "***" and not is_sensitive_marker(value)}
        setup = _run_setup(var, recorded)
        if isinstance(setup, int):
            return setup
        _workspace, runs, _overrides = setup
        with _progress_sink() as sink:
            outcome = call(runs, sink)
        if outcome is None:
            return EXIT_OK
        return _finish(outcome)
    return _guard_runs(body)


RunArgument = typer.Argument(..., help="The run, as PIPELINE#NUMBER (e.g. app#3).")
ContinueVarOption = typer.Option(
    None, "--var", help="Give a variable again (NAME=VALUE): sensitive values a run started "
    "with are not kept, so give the same ones; others default to what the run started with.")


@app.command()
def approve(
    run_ref: str = RunArgument,
    user: Optional[str] = typer.Option(None, "--as", help="Who approves (default: you)."),
    comment: Optional[str] = typer.Option(None, "--comment", help="Why."),
    task: Optional[str] = typer.Option(None, "--task", help="Which waiting task, if several."),
    var: Optional[List[str]] = ContinueVarOption,
) -> None:
    """Approve what a run waits for, then continue it here (unless a server drives it)."""
    _exit(_decide("approve", run_ref, user, comment, task, var))


@app.command()
def reject(
    run_ref: str = RunArgument,
    user: Optional[str] = typer.Option(None, "--as", help="Who rejects (default: you)."),
    comment: Optional[str] = typer.Option(None, "--comment", help="Why."),
    task: Optional[str] = typer.Option(None, "--task", help="Which waiting task, if several."),
    var: Optional[List[str]] = ContinueVarOption,
) -> None:
    """Reject what a run waits for: the approval fails, and so does the run."""
    _exit(_decide("reject", run_ref, user, comment, task, var))


def _decide(decision: str, run_ref: str, user: str | None, comment: str | None,
            task: str | None, var: list[str] | None) -> int:
    """Record an approval or a rejection, then continue the run."""
    return _continue(lambda runs, sink: getattr(runs.service, decision)(
        run_ref, _user(user), comment, task=task, variables=runs.variables,
        sensitive=runs.sensitive, on_event=sink), run_ref, var)


@app.command()
def retry(
    run_ref: str = RunArgument,
    task: Optional[str] = typer.Option(None, "--task", help="Only this task (stage/task)."),
    var: Optional[List[str]] = ContinueVarOption,
) -> None:
    """Run the failed tasks of a run again, keeping what succeeded."""
    _exit(_continue(lambda runs, sink: runs.service.retry(
        run_ref, task, variables=runs.variables, sensitive=runs.sensitive, on_event=sink),
        run_ref, var))


@app.command()
def skip(
    run_ref: str = RunArgument,
    task: str = typer.Option(..., "--task", help="The task to skip (stage/task)."),
    user: Optional[str] = typer.Option(None, "--as", help="Who skips it (default: you)."),
    var: Optional[List[str]] = ContinueVarOption,
) -> None:
    """Mark a task that did not succeed skipped, and continue the run past it."""
    _exit(_continue(lambda runs, sink: runs.service.skip(
        run_ref, task, user=_user(user), variables=runs.variables, sensitive=runs.sensitive,
        on_event=sink), run_ref, var))


@app.command()
def resume(run_ref: str = RunArgument,
           var: Optional[List[str]] = ContinueVarOption) -> None:
    """Continue a run whose process died (status interrupted)."""
    _exit(_continue(lambda runs, sink: runs.service.resume(
        run_ref, variables=runs.variables, sensitive=runs.sensitive, on_event=sink),
        run_ref, var))


@app.command()
def cancel(
    run_ref: str = RunArgument,
    user: Optional[str] = typer.Option(None, "--as", help="Who cancels it (default: you)."),
) -> None:
    """Cancel a run: its running steps' whole process groups are killed."""
    def body() -> int:
        record = _store().cancel(run_ref, user=_user(user))
        out(f"{record.ref} is {record.status}.")
        return EXIT_OK
    _exit(_guard_runs(body))


@app.command("runs")
def runs_command(
    target: Optional[str] = typer.Argument(
        None, help="A pipeline name to list its runs, or `show` followed by a run."),
    run_ref: Optional[str] = typer.Argument(None, help="With `show`: the run, PIPELINE#NUMBER."),
    limit: int = typer.Option(50, "--limit", min=1, help="How many runs to list."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Run history. `flowplan runs [PIPELINE]` lists runs (number, status, trigger, commit, who,
    started, duration); `flowplan runs show RUN` shows one run's stages, tasks and steps."""
    def body() -> int:
        from flowplan.views.run_text import render_run_tree, render_runs_table, to_json

        service = _store()
        if target == "show":
            if not run_ref:
                err("Error: flowplan runs show RUN: name the run, e.g. app#3.")
                return EXIT_ERROR
            tree = service.show(run_ref)
            out(to_json(tree) if json_output else render_run_tree(tree))
            return EXIT_OK
        records = service.list_runs(target, limit=limit)
        out(to_json(records) if json_output else render_runs_table(records))
        return EXIT_OK
    _exit(_guard_runs(body))


@app.command()
def logs(
    run_ref: str = RunArgument,
    task: Optional[str] = typer.Option(None, "--task", help="Only this task's log."),
    step: Optional[str] = typer.Option(None, "--step", help="Only this step's log."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Print a run's log lines (masked), oldest first."""
    def body() -> int:
        import json

        from flowplan.views.run_text import render_log_line

        service = _store()
        for line in service.logs(run_ref, task=task, step=step, follow=follow):
            if json_output:
                out(json.dumps({"stage": line.stage, "task": line.task, "step": line.step,
                                "attempt": line.attempt, "seq": line.seq, "at": line.at,
                                "stream": line.stream, "text": line.text}))
            else:
                out(render_log_line(line))
        return EXIT_OK
    _exit(_guard_runs(body))


# -- secrets and roles --------------------------------------------------------------------------

secret_app = typer.Typer(help="Secrets kept encrypted in the store (key: FLOWPLAN_SECRET_KEY).",
                         no_args_is_help=True)
role_app = typer.Typer(help="Roles that manual_approval steps name in `roles`.",
                       no_args_is_help=True)
app.add_typer(secret_app, name="secret")
app.add_typer(role_app, name="role")


def _store():
    from flowplan import engine

    return engine.open_run_service(OPTIONS.directory)


@secret_app.command("set")
def secret_set(name: str = typer.Argument(..., help="The secret's name, as source credentials "
                                          "or a variable name it stands for.")) -> None:
    """Store a secret, read from standard input (or asked for, hidden, on a terminal)."""
    def body() -> int:
        service = _store()
        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass(f"Value of secret {name}: ")
        else:
            value = sys.stdin.read().rstrip("\n")
        if not value:
            err("Error: the secret is empty; nothing stored.")
            return EXIT_ERROR
        service.set_secret(name, value)
        out(f"Stored secret {name} (encrypted).")
        return EXIT_OK
    _exit(_guard_runs(body))


@secret_app.command("list")
def secret_list() -> None:
    """List the names of stored secrets (never their values)."""
    def body() -> int:
        service = _store()
        out("".join(f"{name}\n" for name in service.store.secret_names()) or "No secrets.")
        return EXIT_OK
    _exit(_guard_runs(body))


@secret_app.command("rm")
def secret_rm(name: str = typer.Argument(..., help="The secret to delete.")) -> None:
    """Delete a stored secret."""
    def body() -> int:
        service = _store()
        if not service.store.delete_secret(name):
            err(f"Error: there is no secret named {name}.")
            return EXIT_ERROR
        out(f"Deleted secret {name}.")
        return EXIT_OK
    _exit(_guard_runs(body))


@role_app.command("grant")
def role_grant(role: str = typer.Argument(...), user: str = typer.Argument(...)) -> None:
    """Add USER to ROLE."""
    def body() -> int:
        service = _store()
        service.store.grant_role(role, user)
        out(f"{user} is in role {role}: {', '.join(service.store.role_members(role))}.")
        return EXIT_OK
    _exit(_guard_runs(body))


@role_app.command("revoke")
def role_revoke(role: str = typer.Argument(...), user: str = typer.Argument(...)) -> None:
    """Remove USER from ROLE."""
    def body() -> int:
        service = _store()
        if not service.store.revoke_role(role, user):
            err(f"Error: {user} is not in role {role}.")
            return EXIT_ERROR
        out(f"Removed {user} from role {role}.")
        return EXIT_OK
    _exit(_guard_runs(body))


@role_app.command("list")
def role_list(role: str = typer.Argument(..., help="The role whose members to list.")) -> None:
    """List a role's members."""
    def body() -> int:
        service = _store()
        out("".join(f"{member}\n" for member in service.store.role_members(role))
            or f"Role {role} has no members.")
        return EXIT_OK
    _exit(_guard_runs(body))


def main(argv: list[str] | None = None) -> Any:
    return app(args=argv, prog_name="flowplan")


if __name__ == "__main__":
    main()

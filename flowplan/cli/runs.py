"""Commands about runs: run, runs, logs, approve, reject, retry, skip, resume, cancel."""

from __future__ import annotations

from typing import List, Optional

import typer

from flowplan.cli.app import (EXIT_ERROR, EXIT_OK, OPTIONS, VarOption, app, err, exit_with,
                              load_workspace, out, parse_variables, run_guarded, use_color)


# -- runs --------------------------------------------------------------------------------------

EXIT_WAITING = 4


def run_service():
    """The run service, for commands that need no variable values."""
    from flowplan import engine

    return engine.open_run_service(OPTIONS.directory)


def user_name(explicit: str | None) -> str:
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

    given = {**(recorded or {}), **parse_variables(var)}
    declared = _declared_variables()
    config_vars = {k: v for k, v in given.items() if k in declared}
    overrides = {k: v for k, v in given.items() if k not in declared}
    # Sensitive variables may come from secrets kept in the store; --var still wins.
    config_vars = {**engine.stored_secret_values(OPTIONS.directory), **config_vars}
    workspace = load_workspace(list(f"{k}={v}" for k, v in config_vars.items()), for_run=True)
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


def guard_runs(function) -> int:
    from flowplan.executor.errors import RunServiceError
    from flowplan.executor.secrets import SecretError

    try:
        return run_guarded(function)
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
                                         trigger="manual", user=user_name(user),
                                         parallelism=parallelism, on_event=sink)
        given_secrets = sorted(runs.sensitive.intersection(parse_variables(var)))
        if getattr(outcome.status, "value", outcome.status) == "waiting" and given_secrets:
            again = " ".join(f"--var {name}=..." for name in given_secrets)
            out(f"    Sensitive values are not kept: add {again} to continue the run.")
        return _finish(outcome)
    exit_with(guard_runs(body))


def _continue(call, run_ref: str, var: list[str] | None) -> int:
    """Run `call(run_setup, event_sink)` for a command that continues a run: the config is
    loaded with the values the run started with (so variables given then need not be given
    again), below any `--var` given now."""
    def body() -> int:
        import json

        from flowplan.values import is_sensitive_marker

        started_with = run_service().get(run_ref).variables
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
    return guard_runs(body)


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
    exit_with(_decide("approve", run_ref, user, comment, task, var))


@app.command()
def reject(
    run_ref: str = RunArgument,
    user: Optional[str] = typer.Option(None, "--as", help="Who rejects (default: you)."),
    comment: Optional[str] = typer.Option(None, "--comment", help="Why."),
    task: Optional[str] = typer.Option(None, "--task", help="Which waiting task, if several."),
    var: Optional[List[str]] = ContinueVarOption,
) -> None:
    """Reject what a run waits for: the approval fails, and so does the run."""
    exit_with(_decide("reject", run_ref, user, comment, task, var))


def _decide(decision: str, run_ref: str, user: str | None, comment: str | None,
            task: str | None, var: list[str] | None) -> int:
    """Record an approval or a rejection, then continue the run."""
    return _continue(lambda runs, sink: getattr(runs.service, decision)(
        run_ref, user_name(user), comment, task=task, variables=runs.variables,
        sensitive=runs.sensitive, on_event=sink), run_ref, var)


@app.command()
def retry(
    run_ref: str = RunArgument,
    task: Optional[str] = typer.Option(None, "--task", help="Only this task (stage/task)."),
    var: Optional[List[str]] = ContinueVarOption,
) -> None:
    """Run the failed tasks of a run again, keeping what succeeded."""
    exit_with(_continue(lambda runs, sink: runs.service.retry(
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
    exit_with(_continue(lambda runs, sink: runs.service.skip(
        run_ref, task, user=user_name(user), variables=runs.variables, sensitive=runs.sensitive,
        on_event=sink), run_ref, var))


@app.command()
def resume(run_ref: str = RunArgument,
           var: Optional[List[str]] = ContinueVarOption) -> None:
    """Continue a run whose process died (status interrupted)."""
    exit_with(_continue(lambda runs, sink: runs.service.resume(
        run_ref, variables=runs.variables, sensitive=runs.sensitive, on_event=sink),
        run_ref, var))


@app.command()
def cancel(
    run_ref: str = RunArgument,
    user: Optional[str] = typer.Option(None, "--as", help="Who cancels it (default: you)."),
) -> None:
    """Cancel a run: its running steps' whole process groups are killed."""
    def body() -> int:
        record = run_service().cancel(run_ref, user=user_name(user))
        out(f"{record.ref} is {record.status}.")
        return EXIT_OK
    exit_with(guard_runs(body))


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

        service = run_service()
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
    exit_with(guard_runs(body))


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

        service = run_service()
        for line in service.logs(run_ref, task=task, step=step, follow=follow):
            if json_output:
                out(json.dumps({"stage": line.stage, "task": line.task, "step": line.step,
                                "attempt": line.attempt, "seq": line.seq, "at": line.at,
                                "stream": line.stream, "text": line.text}))
            else:
                out(render_log_line(line))
        return EXIT_OK
    exit_with(guard_runs(body))

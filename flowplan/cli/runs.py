"""Commands about runs: run, runs, logs, approve, reject, retry, skip, resume, rollback,
cancel.

The commands that drive a run (run, approve, reject, retry, skip, resume, rollback) take SIGTERM as Ctrl-C
while they drive it: the run's steps are stopped and the run is recorded canceled, exit 1.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from flowplan.cli.app import (EXIT_ERROR, EXIT_OK, OPTIONS, app, checked, err, exit_with, out,
                              parse_variables, run_guarded, terminate_as_interrupt, use_color)
from flowplan.executor.run.refs import MAX_RUN_NUMBER


# -- runs --------------------------------------------------------------------------------------

EXIT_WAITING = 4
MAX_COMMENT_LENGTH = 2000
MAX_REVISION_LENGTH = 1000       # --branch, --commit


def run_service():
    """The run service, for commands that need no variable values."""
    from flowplan import engine

    return engine.open_run_service(OPTIONS.directory)


def user_name(explicit: str | None) -> str:
    if explicit is not None:
        return checked("--as", explicit)
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


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
    from flowplan.engine import RunRefused
    from flowplan.executor.errors import RunServiceError
    from flowplan.executor.secrets import SecretError
    from flowplan.store.database import StoreBusy

    try:
        return run_guarded(function)
    except (RunServiceError, SecretError, RunRefused, StoreBusy) as exc:
        err(f"Error: {exc}")
        return EXIT_ERROR


@app.command()
def run(
    pipeline: str = typer.Argument(..., help="The pipeline to run (its name)."),
    var: Optional[List[str]] = typer.Option(
        None, "--var", help="Set one of the pipeline's variables for this run: --var "
        "NAME=VALUE (repeatable); read as run.variables.NAME."),
    branch: Optional[str] = typer.Option(None, "--branch", help="Check out this branch."),
    commit: Optional[str] = typer.Option(None, "--commit", help="Check out this commit."),
    user: Optional[str] = typer.Option(None, "--as", help="Who starts the run."),
    parallelism: Optional[int] = typer.Option(None, "--parallelism", min=1,
                                              help="Tasks of the run at once."),
    from_config: bool = typer.Option(
        False, "--from-config", help="Run the pipeline as the working copy declares it, "
        "without applying (default: the applied definition)."),
) -> None:
    """Run a pipeline's applied definition here and now; exits 0 succeeded, 1 failed or
    canceled, 4 waiting."""
    def body() -> int:
        from flowplan import engine

        checked("the pipeline name", pipeline)
        who = user_name(user)
        checked("--branch", branch, limit=MAX_REVISION_LENGTH)
        checked("--commit", commit, limit=MAX_REVISION_LENGTH)
        prepared = engine.prepare_run(OPTIONS.directory, pipeline, from_config=from_config,
                                      pipeline_variables=parse_variables(var))
        for note in prepared.notes:
            err(note)
        with terminate_as_interrupt():          # SIGTERM cancels the run, as Ctrl-C does
            _wait_for_a_slot(prepared)
            prepared.service.expire_approvals()     # approvals past their timeout fail
            with _progress_sink() as sink:
                outcome = prepared.service.start(
                    pipeline, prepared.definition, variables=prepared.variables,
                    sensitive=prepared.sensitive, branch=branch, commit=commit,
                    trigger="manual", user=who, parallelism=parallelism,
                    origin=prepared.origin, on_event=sink)
        return _finish(outcome)
    exit_with(guard_runs(body))


SLOT_POLL_SECONDS = 1.0


def _wait_for_a_slot(prepared) -> None:
    """Apply the pipeline's `max_concurrent_runs`: with on_limit "queue", wait (saying so once)
    until fewer of its runs are running; "reject_new" refuses; "cancel_oldest" cancels the
    oldest running ones. Runs of every process count; two commands starting at the same moment
    may both take the last slot (the server counts exactly among the runs it starts)."""
    import time

    from flowplan.engine import RunRefused
    from flowplan.server.launcher import admit

    definition = prepared.definition
    if not isinstance(definition.get("max_concurrent_runs"), int):
        return
    said = False
    try:
        while True:
            running = prepared.service.store.list_runs(prepared.pipeline, statuses=["running"],
                                                       limit=10_000)
            admission = admit(prepared.pipeline, definition, running)
            if admission.action == "reject":
                raise RunRefused(admission.message)
            for ref in admission.cancel:
                prepared.service.cancel(ref, reason=f"canceled: a newer run of "
                                                    f"{prepared.pipeline} started (on_limit = "
                                                    '"cancel_oldest")')
                err(f"{ref} canceled: {admission.message}")
            if admission.action != "queue":
                return
            if not said:
                err(f"{admission.message}: waiting for a slot (Ctrl-C to give up)")
                said = True
            time.sleep(SLOT_POLL_SECONDS)
    except KeyboardInterrupt as exc:
        raise RunRefused(f"gave up waiting for a slot ({str(exc) or 'Ctrl-C'}); nothing "
                         "was started") from None


def _continue(call, run_ref: str, check=lambda: None) -> int:
    """Run `call(service, values, event_sink)` for a command that continues a run, once
    `check()` found the command's options fit (BadInput otherwise). The sensitive values the
    run needs are resolved again as when it started (store secrets, FP_VAR_*, ...); the
    service refuses, before recording anything, when one changed."""
    def body() -> int:
        from flowplan import engine

        check()
        service = run_service()
        with terminate_as_interrupt():          # SIGTERM cancels the run, as Ctrl-C does
            service.expire_approvals()
            values = engine.continue_values(service, run_ref, OPTIONS.directory)
            with _progress_sink() as sink:
                outcome = call(service, values, sink)
        if outcome is None:
            return EXIT_OK
        return _finish(outcome)
    return guard_runs(body)


RunArgument = typer.Argument(..., help="The run, as PIPELINE#NUMBER (e.g. app#3).")


@app.command()
def approve(
    run_ref: str = RunArgument,
    user: Optional[str] = typer.Option(None, "--as", help="Who approves (default: you)."),
    comment: Optional[str] = typer.Option(None, "--comment", help="Why."),
    task: Optional[str] = typer.Option(None, "--task", help="Which waiting task, if several."),
) -> None:
    """Approve what a run waits for, then continue it here (unless a server drives it)."""
    exit_with(_decide("approve", run_ref, user, comment, task))


@app.command()
def reject(
    run_ref: str = RunArgument,
    user: Optional[str] = typer.Option(None, "--as", help="Who rejects (default: you)."),
    comment: Optional[str] = typer.Option(None, "--comment", help="Why."),
    task: Optional[str] = typer.Option(None, "--task", help="Which waiting task, if several."),
) -> None:
    """Reject what a run waits for: the approval fails, and so does the run."""
    exit_with(_decide("reject", run_ref, user, comment, task))


def _decide(decision: str, run_ref: str, user: str | None, comment: str | None,
            task: str | None) -> int:
    """Record an approval or a rejection, then continue the run."""
    return _continue(lambda service, values, sink: getattr(service, decision)(
        run_ref, user_name(user), comment, task=task, variables=values,
        sensitive=set(values), on_event=sink), run_ref,
        lambda: (user_name(user), checked("--comment", comment, limit=MAX_COMMENT_LENGTH,
                                          lines=True), checked("--task", task)))


@app.command()
def retry(
    run_ref: str = RunArgument,
    task: Optional[str] = typer.Option(None, "--task", help="Only this task (stage/task)."),
) -> None:
    """Run the failed tasks of a run again, keeping what succeeded."""
    exit_with(_continue(lambda service, values, sink: service.retry(
        run_ref, task, variables=values, sensitive=set(values), on_event=sink), run_ref,
        lambda: checked("--task", task)))


@app.command()
def skip(
    run_ref: str = RunArgument,
    task: str = typer.Option(..., "--task", help="The task to skip (stage/task)."),
    user: Optional[str] = typer.Option(None, "--as", help="Who skips it (default: you)."),
) -> None:
    """Mark a task that did not succeed skipped, and continue the run past it."""
    exit_with(_continue(lambda service, values, sink: service.skip(
        run_ref, task, user=user_name(user), variables=values, sensitive=set(values),
        on_event=sink), run_ref, lambda: (checked("--task", task), user_name(user))))


@app.command()
def resume(
    run_ref: str = RunArgument,
    user: Optional[str] = typer.Option(None, "--as", help="Who resumes it (default: you)."),
) -> None:
    """Continue a run whose process died (status interrupted), or a deploy paused between
    batches (the next batch starts)."""
    exit_with(_continue(lambda service, values, sink: service.resume(
        run_ref, variables=values, sensitive=set(values), user=user_name(user),
        on_event=sink), run_ref, lambda: user_name(user)))


@app.command()
def rollback(
    pipeline: str = typer.Argument(..., help="The pipeline (its name)."),
    to: str = typer.Option(..., "--to", help="The run whose deploy to repeat: NUMBER or "
                                              "PIPELINE#NUMBER."),
    user: Optional[str] = typer.Option(None, "--as", help="Who rolls back (default: you)."),
) -> None:
    """Start a run (trigger rollback) that repeats the deploy steps of an earlier run with that
    run's artifacts and variables."""
    def body() -> int:
        from flowplan import engine

        checked("the pipeline name", pipeline)
        checked("--to", to)
        who = user_name(user)
        service = run_service()
        ref = to if "#" in to else f"{pipeline}#{to}"
        with terminate_as_interrupt():
            values = engine.continue_values(service, ref, OPTIONS.directory)
            with _progress_sink() as sink:
                outcome = service.rollback(pipeline, ref, user=who, variables=values,
                                           sensitive=set(values), on_event=sink)
        return _finish(outcome)
    exit_with(guard_runs(body))


@app.command()
def cancel(
    run_ref: str = RunArgument,
    user: Optional[str] = typer.Option(None, "--as", help="Who cancels it (default: you)."),
) -> None:
    """Cancel a run: its running steps' whole process groups are killed; a canary paused at
    a step is removed first (the stable version stays)."""
    def body() -> int:
        from flowplan import engine
        from flowplan.engine import RunRefused

        who = user_name(user)
        service = run_service()
        values = None
        if service.pauses_to_undo(run_ref):     # continued to remove itself: the run's values
            try:
                values = engine.continue_values(service, run_ref, OPTIONS.directory)
            except RunRefused as refused:
                err(f"note: {refused}; the paused canary stays as it is")
        with terminate_as_interrupt(), _progress_sink() as sink:
            record = service.cancel(run_ref, user=who, variables=values,
                                    sensitive=set(values or ()), on_event=sink)
        out(f"{record.ref} is {record.status}.")
        return EXIT_OK
    exit_with(guard_runs(body))


@app.command("runs")
def runs_command(
    target: Optional[str] = typer.Argument(
        None, help="A pipeline name to list its runs, or `show` followed by a run."),
    run_ref: Optional[str] = typer.Argument(None, help="With `show`: the run, PIPELINE#NUMBER."),
    limit: int = typer.Option(50, "--limit", min=1, max=MAX_RUN_NUMBER, clamp=True,
                              help="How many runs to list."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Run history. `flowplan runs [PIPELINE]` lists runs (number, status, trigger, commit, who,
    started, duration); `flowplan runs show RUN` shows one run's stages, tasks and steps."""
    def body() -> int:
        from flowplan.views.run_text import render_run_tree, render_runs_table, to_json

        if target != "show":
            checked("the pipeline name", target)
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

        checked("--task", task)
        checked("--step", step)
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

"""The typer application and what every command shares: the -C option, output helpers,
loading the config with diagnostics printed, and turning expected failures into exit codes.

Commands live beside this module, one module per family (provisioning, runs, access); each
parses its options, calls one core function, renders the result and returns an exit code.
Heavy modules are imported inside the commands, so `flowplan --help` starts fast. Colours are
used on a terminal unless NO_COLOR is set; piped output is plain text.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

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


def parse_variables(values: list[str] | None) -> dict[str, str]:
    from flowplan.config.variables import parse_assignment

    result = {}
    for item in values or []:
        try:
            name, value = parse_assignment(item)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        result[name] = value
    return result


def load_workspace(variables: list[str] | None, with_state: bool = True, for_run: bool = False):
    """The workspace (its warnings printed), or an exit code after printing diagnostics."""
    from flowplan import engine
    from flowplan.diagnostics import DiagnosticsError

    try:
        workspace = engine.load(OPTIONS.directory, parse_variables(variables),
                                with_state=with_state, for_run=for_run)
    except DiagnosticsError as exc:
        return fail_with_diagnostics(exc, exc.texts)
    print_warnings(workspace.config.diagnostics, workspace.config.texts)
    return workspace


def print_warnings(diagnostics, texts: dict[str, str]) -> None:
    """Warnings (what does not stop the command) on stderr, as diagnostics are shown."""
    from flowplan.views import render_diagnostics

    warnings = [d for d in diagnostics.sorted() if d.severity.value == "warning"]
    if warnings:
        err(render_diagnostics(warnings, texts, use_color(sys.stderr)))


class BadInput(Exception):
    """A value on the command line (or standard input) that flowplan refuses before acting on
    it; the message names the value and says what is wrong."""


MAX_NAME_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_UNDECODABLE = re.compile(r"[\ud800-\udfff]")    # bytes that were not UTF-8, as Python keeps them


def checked(what: str, value: str | None, *, limit: int = MAX_NAME_LENGTH,
            lines: bool = False) -> str | None:
    """`value` if it is text fit to store and to show on a terminal: not empty, UTF-8, no
    control characters (with `lines`, tabs and newlines are fine), at most `limit` characters.
    BadInput naming `what` otherwise; None stays None."""
    if value is None:
        return None
    if not value.strip():
        raise BadInput(f"{what} is empty")
    if len(value) > limit:
        raise BadInput(f"{what} is {len(value)} characters long; at most {limit} are allowed")
    if _UNDECODABLE.search(value):
        raise BadInput(f"{what} is not UTF-8 text")
    control = (_CONTROL_BUT_LINES if lines else _CONTROL).search(value)
    if control:
        raise BadInput(f"{what} holds a control character ({control.group()!r})")
    return value


def named(what: str, value: str) -> str:
    """`value` if it can name something already stored (to look it up or delete it): not
    empty, and UTF-8 text; BadInput naming `what` otherwise."""
    if not value:
        raise BadInput(f"{what} is empty")
    if _UNDECODABLE.search(value):
        raise BadInput(f"{what} is not UTF-8 text")
    return value


def run_guarded(function, *args, **kwargs) -> int:
    """Call a command body, turning expected failures into messages and exit code 1."""
    from flowplan.apply import StalePlanError
    from flowplan.diagnostics import DiagnosticsError
    from flowplan.state import StateError
    from flowplan.teams import TeamError

    try:
        return function(*args, **kwargs)
    except DiagnosticsError as exc:
        return fail_with_diagnostics(exc, exc.texts)
    except (StateError, StalePlanError, BadInput, TeamError) as exc:
        err(f"Error: {exc}")
        return EXIT_ERROR


def exit_with(code: int) -> None:
    raise typer.Exit(code)


@contextlib.contextmanager
def terminate_as_interrupt(stopped_by: list[str] | None = None):
    """While the block runs, SIGTERM (how CI systems and service managers stop a job) raises
    KeyboardInterrupt("SIGTERM") in the main thread, as Ctrl-C raises KeyboardInterrupt("Ctrl-C").

    The first of them appends its name to `stopped_by`. A SIGTERM after that is ignored, so the
    command can wind down (apply finishes and records what is in flight and releases the lock; a
    run stops its steps and records itself canceled); a second Ctrl-C still breaks off at once,
    as it always has. Inside flowplan.interrupts.deferred() blocks (work handed to a thread pool)
    the exception waits for the end of the block. A signal the process was started ignoring stays
    ignored. The previous
    handlers are restored afterwards: nothing is installed at import, and commands that do not
    ask keep the default handlers.
    """
    stopped_by = [] if stopped_by is None else stopped_by
    if threading.current_thread() is not threading.main_thread():
        yield                                   # signal handlers can only be set from there
        return

    from flowplan.interrupts import raise_or_keep

    def terminate(signum, frame) -> None:
        if stopped_by:
            return
        stopped_by.append("SIGTERM")
        raise_or_keep(KeyboardInterrupt("SIGTERM"))

    def interrupt(signum, frame) -> None:
        stopped_by.append("Ctrl-C (SIGINT)")
        raise_or_keep(KeyboardInterrupt("Ctrl-C"))

    previous = {}
    for number, handler in ((signal.SIGTERM, terminate), (signal.SIGINT, interrupt)):
        if signal.getsignal(number) is not signal.SIG_IGN:     # e.g. SIGINT of a background job
            previous[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


VarOption = typer.Option(None, "--var", help="Set a variable: --var NAME=VALUE (repeatable).")


def main(argv: list[str] | None = None) -> Any:
    return app(args=argv, prog_name="flowplan")

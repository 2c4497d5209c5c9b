"""Provisioning commands: validate, plan, apply, destroy, import, show, state, force-unlock,
graph.

`apply` and `destroy` treat SIGTERM (how CI systems stop a job) as Ctrl-C: resources being
changed finish and are recorded, nothing new starts, the state lock is released, and the command
exits 1 saying so. The handler (`app.terminate_as_interrupt`) is installed only while those two
commands run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from flowplan.cli.app import (EXIT_CHANGES, EXIT_ERROR, EXIT_OK, OPTIONS, VarOption, app, err,
                              exit_with, load_workspace, out, parse_variables, print_warnings,
                              run_guarded, state_app, terminate_as_interrupt, use_color)


def _lock_timeout(value: str) -> float:
    from flowplan.state.waiting import parse_lock_timeout

    try:
        return parse_lock_timeout(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


# Declared `str` where used (typer parses the text), and handed over as seconds (a float) by
# its callback.
LockTimeoutOption = typer.Option(
    "0", "--lock-timeout", metavar="DURATION", callback=_lock_timeout,
    help="How long to wait for a state lock another flowplan holds (e.g. 30s, 5m), saying "
         "once who holds it; 0 (the default) fails at once with the holder's details.")


# -- validate ------------------------------------------------------------------------------------

@app.command()
def validate(var: Optional[List[str]] = VarOption) -> None:
    """Check the config, and what providers check offline, without touching the state or any
    real system."""
    def body() -> int:
        from flowplan import engine

        workspace = engine.validate(OPTIONS.directory, parse_variables(var))
        print_warnings(workspace.config.diagnostics, workspace.config.texts)
        resources = len(workspace.config.resources)
        out(f"Success! The configuration is valid ({resources} resource"
            f"{'s' if resources != 1 else ''}).")
        return EXIT_OK

    exit_with(run_guarded(body))


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
    lock_timeout: str = LockTimeoutOption,
) -> None:
    """Show what apply would change: the config compared with the state."""
    from flowplan.plan.planner import PlanOptions

    options = PlanOptions(refresh=refresh, targets=tuple(target or ()),
                          replace=tuple(replace or ()), destroy=destroy, parallelism=parallelism)

    def body() -> int:
        from flowplan import engine
        from flowplan.views import render_plan_human, render_plan_json, render_plan_markdown

        workspace = load_workspace(var)
        if isinstance(workspace, int):
            return workspace
        result = engine.plan(workspace, options, on_event=progress(quiet=json_output or markdown),
                             lock_timeout=lock_timeout)
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

    exit_with(run_guarded(body))


def progress(quiet: bool = False):
    """Progress lines (stderr when stdout is piped); warnings always, on stderr."""
    from flowplan.views.progress_text import is_warning, render_event

    def on_event(event: object) -> None:
        if is_warning(event):
            err(render_event(event) or "")
            return
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
    lock_timeout: str = LockTimeoutOption,
) -> None:
    """Provision the config: plan, ask for yes, then apply (or apply a saved plan)."""
    from flowplan.plan.planner import PlanOptions

    options = PlanOptions(refresh=refresh, targets=tuple(target or ()),
                          replace=tuple(replace or ()), parallelism=parallelism)
    exit_with(run_guarded(_apply, var, plan_file, options, auto_approve or plan_file is not None,
                          "apply", lock_timeout))


@app.command()
def destroy(
    var: Optional[List[str]] = VarOption,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Skip the yes prompt."),
    target: Optional[List[str]] = typer.Option(None, "--target"),
    parallelism: int = typer.Option(10, "--parallelism", min=1),
    lock_timeout: str = LockTimeoutOption,
) -> None:
    """Destroy everything the state records (or the targets and what depends on them)."""
    from flowplan.plan.planner import PlanOptions

    options = PlanOptions(destroy=True, targets=tuple(target or ()), parallelism=parallelism)
    exit_with(run_guarded(_apply, var, None, options, auto_approve, "destroy", lock_timeout))


def _apply(var, plan_file: Path | None, options, auto_approve: bool, verb: str,
           lock_timeout: float = 0.0) -> int:
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
    workspace = load_workspace(var)
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

    stopped_by: list[str] = []
    try:
        with terminate_as_interrupt(stopped_by):
            the_plan, result = engine.apply(workspace, saved, options, confirm, progress(),
                                            lock_timeout=lock_timeout)
    except KeyboardInterrupt:
        err(f"\nError: {verb} interrupted by {stopped_by[0] if stopped_by else 'Ctrl-C'}. "
            "Resources that finished are in the state and the state lock is released; run "
            f"flowplan {verb} again to do the rest.")
        return EXIT_ERROR
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


# -- import ----------------------------------------------------------------------------------

@app.command("import")
def import_(
    address: str = typer.Argument(..., help="The block to import into, e.g. webhook.ci."),
    id: str = typer.Argument(..., help="The real object's id, as its provider spells it "
                             "(a GitHub webhook: OWNER/REPO/HOOKID; a git webhook: the "
                             "repository's path; a pipeline: its name)."),
    var: Optional[List[str]] = VarOption,
    lock_timeout: str = LockTimeoutOption,
) -> None:
    """Record an object made outside flowplan in the state, under a block of the config; the
    next plan shows only what differs from the config."""
    def body() -> int:
        from flowplan import engine
        from flowplan.views.state_text import render_resource

        workspace = load_workspace(var)
        if isinstance(workspace, int):
            return workspace
        imported = engine.import_resource(workspace, address, id, progress(),
                                          lock_timeout=lock_timeout)
        for warning in imported.warnings:
            err(f"Warning: {warning}")
        out(f"{imported.address}: imported from ID {imported.id!r}\n\n"
            f"{render_resource(imported.resource)}\n"
            f"Import successful! {imported.address} is now in the flowplan state (serial "
            f"{imported.serial}); run `flowplan plan` to see what differs from the config.")
        return EXIT_OK
    exit_with(run_guarded(body))


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
    exit_with(run_guarded(body))


def _backend():
    """The state backend named by the config's settings, without evaluating the whole config."""
    from flowplan import engine, teams
    from flowplan.config.loader import load_config

    team = teams.selected_team(OPTIONS.directory)      # TeamError: never another team's state
    config = load_config(OPTIONS.directory, team=team)
    settings = config.settings if not config.diagnostics.has_errors else None
    return engine.backend_for(OPTIONS.directory, settings, team)


@state_app.command("list")
def state_list() -> None:
    """List the addresses in the state."""
    from flowplan.views.state_text import render_state_list

    exit_with(run_guarded(lambda: out(render_state_list(_backend().read())) or EXIT_OK))


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
    exit_with(run_guarded(body))


@state_app.command("rm")
def state_rm(address: str = typer.Argument(..., help="Resource address to forget."),
             lock_timeout: str = LockTimeoutOption) -> None:
    """Forget a resource without destroying it."""
    def body() -> int:
        from flowplan.state.waiting import lock_within

        backend = _backend()
        with lock_within(backend, "state rm", progress(), lock_timeout):
            state = backend.read()
            if state.remove(address) is None:
                err(f"Error: {address} is not in the state.")
                return EXIT_ERROR
            backend.write(state)
        out(f"Removed {address}\nSuccessfully removed 1 resource instance(s).")
        return EXIT_OK
    exit_with(run_guarded(body))


@state_app.command("migrate")
def state_migrate(
    force: bool = typer.Option(False, "--force", help="Replace a state the target already has."),
    source: Optional[Path] = typer.Option(None, "--from", help="The local state file to copy "
                                          "(default: the state block's path)."),
    lock_timeout: str = LockTimeoutOption,
) -> None:
    """Copy the local state into the configured pg backend (the local file stays)."""
    def body() -> int:
        from flowplan import engine, teams
        from flowplan.config.loader import load_config

        team = teams.selected_team(OPTIONS.directory)
        config = load_config(OPTIONS.directory, team=team)
        settings = config.settings if not config.diagnostics.has_errors else None
        migrated = engine.migrate_state(OPTIONS.directory, settings, force, source,
                                        lock_timeout, progress(), team)
        out(f"Copied the state {migrated.source} (serial {migrated.serial}, "
            f"{migrated.resources} resources) to {migrated.target}"
            + (", replacing the state it had." if migrated.replaced else ".")
            + "\nThe local file is kept; flowplan now uses the pg backend.")
        return EXIT_OK
    exit_with(run_guarded(body))


@app.command("force-unlock")
def force_unlock(lock_id: str = typer.Argument(..., help="The lock id shown by the error.")) -> None:
    """Remove a state lock left behind by a process that died."""
    def body() -> int:
        _backend().force_unlock(lock_id)
        out("flowplan state has been successfully unlocked!")
        return EXIT_OK
    exit_with(run_guarded(body))


@app.command()
def graph(var: Optional[List[str]] = VarOption) -> None:
    """Print the resource dependency graph in DOT (pipe it to `dot -Tsvg`)."""
    from flowplan.graph import Graph

    workspace = load_workspace(var, with_state=False)
    if isinstance(workspace, int):
        exit_with(workspace)
    dependency_graph = Graph()
    for address, resource in workspace.config.resources.items():
        dependency_graph.add_node(address)
        for dependency in resource.dependencies:
            dependency_graph.add_edge(address, dependency)
    out(dependency_graph.to_dot())

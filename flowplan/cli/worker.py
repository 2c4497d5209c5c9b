"""`flowplan worker`: serve one queue of the celery executor (flowplan.executor.distributed)."""

from __future__ import annotations

import re

import typer

from flowplan.cli.app import OPTIONS, BadInput, app, err, exit_with, run_guarded

QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@app.command("worker")
def worker_command(
    queue: str = typer.Option("default", "--queue", help="The queue to take tasks from: the "
                              "`runs_on` of the tasks this machine runs (default: default)."),
    concurrency: int = typer.Option(1, "--concurrency", min=1, max=256,
                                    help="How many tasks run here at once."),
) -> None:
    """Run the tasks sent to QUEUE by runs of the celery executor (flowplan { executor =
    "celery" broker = "redis://..." }), with this config's store and workspace_dir. With
    `server { url = ... }` and $FLOWPLAN_WORKER_TOKEN (flowplan token create --worker NAME),
    artifacts and caches move through that server instead of a shared disk."""
    exit_with(run_guarded(_worker, queue, concurrency))


def _worker(queue: str, concurrency: int) -> int:
    from flowplan.executor.distributed.queue import BrokerError
    from flowplan.executor.distributed.worker import WorkerSetupError, serve

    if not QUEUE_NAME.fullmatch(queue):
        raise BadInput(f"queue {queue!r}: letters, digits, '.', '_' and '-', as a task's runs_on")
    try:
        serve(OPTIONS.directory, queue, concurrency)
    except (BrokerError, WorkerSetupError) as exc:
        err(f"Error: {exc}")
        return 1
    return 0

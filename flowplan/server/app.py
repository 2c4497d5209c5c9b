"""The server's FastAPI application: `create_app(context)` includes the routers (webhooks,
flowplan.server.hooks; the REST API under /api/v1, flowplan.server.api; the routes remote
workers move files through, flowplan.server.worker_api; the dashboard,
flowplan.server.dashboard), keeps the `ServerContext` as `app.state.context` for them (and
`server { max_upload_size }` as `app.state.worker_upload_limit`), answers `/healthz`, and runs
the context's periodic jobs while it lives.

Periodic jobs (`ServerContext.jobs`: approval timeouts, the schedule tick) run each on a thread
of its own, every `job.seconds`, first right after startup; a job that raises is logged and runs
again next time. At shutdown the jobs stop and the launcher cancels the runs still in flight
(flowplan.server.launcher), so what the server drove is recorded before it exits.

Serving the app (uvicorn, signals, the addresses printed) is flowplan.cli.serve's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from flowplan.server.context import PeriodicJob, ServerContext

log = logging.getLogger("flowplan.server")


class JobRunner:
    """Runs periodic jobs on threads until stopped."""

    def __init__(self, jobs: list[PeriodicJob]) -> None:
        self.jobs = list(jobs)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for job in self.jobs:
            thread = threading.Thread(target=self._loop, args=(job,), daemon=True,
                                      name=f"flowplan-job-{job.name}")
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self, job: PeriodicJob) -> None:
        while not self._stop.is_set():
            try:
                job.run()
            except Exception:  # noqa: BLE001 - one bad tick must not end the job
                log.exception("periodic job %r failed", job.name)
            self._stop.wait(job.seconds)


def create_app(context: ServerContext) -> FastAPI:
    """The application serving `context`: webhooks at `/hooks/{name}`, `/healthz`, and the
    routers included below."""
    from flowplan.server import api, dashboard, hooks, worker_api

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner = JobRunner(context.jobs)
        runner.start()
        try:
            yield
        finally:
            runner.stop()
            context.launcher.shutdown()

    app = FastAPI(title="flowplan", lifespan=lifespan)
    app.state.context = context
    upload_limit = context.server_settings()["max_upload_bytes"]
    if upload_limit is not None:          # `server { max_upload_size }`, else the default
        app.state.worker_upload_limit = upload_limit
    app.include_router(hooks.router)
    app.include_router(api.router)
    app.include_router(worker_api.router)
    app.include_router(dashboard.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

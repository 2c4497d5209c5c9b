"""`flowplan serve`: the webhook receiver, the REST API and the dashboard in one process.

Where it listens comes from `flowplan { server { host, port, url } }` (127.0.0.1:8080 unless
configured), `--host` and `--port` overriding them (`--port 0` takes a free port). It prints the
addresses to use: the dashboard, `/hooks/NAME` for each applied webhook (on `url`, the address
others reach the server at, when it is set) and `/api/v1`. SIGTERM or Ctrl-C stops it cleanly:
no new requests, the answers under way finish, the runs it drives are canceled and recorded
(`flowplan retry` continues them), the store is closed.
"""

from __future__ import annotations

import logging
import sys
from typing import Optional

import typer

from flowplan.cli.app import OPTIONS, BadInput, app, exit_with, out, run_guarded


@app.command("serve")
def serve_command(
    host: Optional[str] = typer.Option(None, "--host", help="Address to listen on (default: "
                                       "flowplan { server { host } }, else 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", min=0, max=65535,
                                       help="Port to listen on (default: flowplan { server "
                                            "{ port } }, else 8080; 0: any free port)."),
    team: Optional[str] = typer.Option(None, "--team", help="The team to serve (default: the "
                                       "selected one): its runs, pipelines, webhooks and "
                                       "schedules; only its members may log in or use the API. "
                                       "Run one server per team."),
) -> None:
    """Receive webhooks, serve the REST API and the dashboard, and run what they start."""
    exit_with(run_guarded(_serve, host, port, team))


def _serve(host: str | None, port: int | None, team: str | None = None) -> int:
    import socket

    import uvicorn

    from flowplan.server.app import create_app
    from flowplan.server.context import ServerContext

    context = ServerContext.load(OPTIONS.directory, team=team)
    try:
        configured = context.server_settings()
        host = host or configured["host"]
        port = configured["port"] if port is None else port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host, port))
        except OSError as exc:
            listener.close()
            raise BadInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        listener.listen(2048)
        port = listener.getsockname()[1]
        local = f"http://{_url_host(host)}:{port}"
        public = ((context.settings.get("server") or {}).get("url") or local).rstrip("/")
        lines = [f"flowplan serve: listening on {local} (config {context.directory}, "
                 f"team {context.store.team})",
                 f"  dashboard  {local}/"]
        for target in context.hooks.all():
            note = f"  ({target.problem})" if target.problem else ""
            lines.append(f"  webhook    {public}/hooks/{target.name}  [{target.provider}, "
                         f"pipeline {target.pipeline}]{note}")
        lines.append(f"  REST API   {local}/api/v1")
        out("\n".join(lines))
        _log_to_stderr()
        server = _server_class(uvicorn)(uvicorn.Config(create_app(context), log_level="warning",
                                                       access_log=False, lifespan="on"))
        _settle_garbage_collector()
        _shorten_switch_interval()
        server.run(sockets=[listener])     # SIGTERM, Ctrl-C: graceful shutdown, then return
        listener.close()
        out("flowplan serve: stopped")
    finally:
        context.close()
    return 0


def _settle_garbage_collector() -> None:
    """Move what is loaded by now (modules, the app, the config) out of the collector's reach,
    and collect the oldest generation less often: a long-running server keeps few new
    long-lived objects, and a full collection over everything loaded stalls every answer in
    flight for a quarter of a second on a small machine (the delivery benchmark's tail)."""
    import gc

    gc.collect()
    gc.freeze()
    gen0, gen1, _gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, 10_000), gen1, 100)


SWITCH_INTERVAL = 0.001        # seconds; CPython's default is 0.005


def _shorten_switch_interval() -> None:
    """Make a thread that holds the interpreter lock (a run's step being logged, a batch of
    runs being recorded) give it up after 1 ms rather than 5 when the event loop asks for it
    back, which it does after every system call: the answers in flight wait less behind runs."""
    import sys

    sys.setswitchinterval(SWITCH_INTERVAL)


def _server_class(uvicorn):
    class Server(uvicorn.Server):
        """uvicorn's server, except that the SIGTERM or Ctrl-C it shut down for is not raised
        again once it has: the store is still to be closed, and a clean stop exits 0."""

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return Server


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _log_to_stderr() -> None:
    """The server's own messages (runs that could not be driven, refused webhooks) on stderr."""
    logger = logging.getLogger("flowplan.server")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s flowplan: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

"""What the driver and the workers agree on: the Celery application of a broker, the one Celery
task (`flowplan.run_task`) and its message, the Redis keys of a dispatched task, and a broker URL
as it may be shown.

A message (`TaskMessage`) names the task by ids only; the worker reads the rest from the store.
Each dispatch has a fresh `token`: the worker sets `flowplan:task:TOKEN:beat` (with a time to
live) while it runs the task, and pushes the task's final status to `flowplan:task:TOKEN:done`.
Answers go through those keys, not Celery's result backend: a driver process waits for all of its
dispatched tasks at once, with one blocking BLPOP on all their answer keys (dispatch.py).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

TASK_NAME = "flowplan.run_task"
DEFAULT_QUEUE = "default"
POOL_CONNECTIONS = 32          # a process's connections for the heartbeat and answer keys
POOL_WAIT_SECONDS = 20         # how long a command waits for one of them


class BrokerError(Exception):
    """The broker cannot be reached or is not configured; the message says which and what to do
    (it never holds the broker's password)."""


@dataclass(frozen=True)
class TaskMessage:
    run_id: int
    task_run_id: int
    stage: str
    task: str
    token: str                  # this dispatch's, for the heartbeat and answer keys
    retries: int                # the attempts after a failed one the worker may still make
    heartbeat_interval: float
    heartbeat_timeout: float    # the heartbeat key's time to live

    def payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, payload: dict[str, Any]) -> TaskMessage:
        return cls(**{name: payload[name] for name in cls.__dataclass_fields__})


def beat_key(token: str) -> str:
    return f"flowplan:task:{token}:beat"


def done_key(token: str) -> str:
    return f"flowplan:task:{token}:done"


def shown_url(url: str) -> str:
    """`url` without its password (redis://:secret@host:6379/0 -> redis://host:6379/0)."""
    try:
        parts = urlsplit(url)
        if parts.password is None and parts.username is None:
            return url
        netloc = (f"{parts.username}@" if parts.username else "") + (parts.hostname or "")
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "(an unreadable broker URL)"


def require_broker(broker: str | None) -> str:
    if not broker:
        raise BrokerError('executor = "celery" needs the broker\'s address: flowplan { broker = '
                          '"redis://HOST:6379/0" }')
    if urlsplit(broker).scheme not in ("redis", "rediss"):
        raise BrokerError(f"broker {shown_url(broker)}: flowplan's celery executor takes a "
                          "redis:// or rediss:// broker")
    return broker


_APPS: dict[str, Any] = {}
_APPS_LOCK = threading.Lock()


def celery_app(broker: str, run_task: Callable[[dict[str, Any]], str] | None = None) -> Any:
    """The Celery application for `broker` (one per broker and process). A worker passes the
    function that runs a message; a driver only sends, by name."""
    with _APPS_LOCK:            # celery's lazy module is not safe to import on many threads
        from celery import Celery

        app = _APPS.get(broker)
        if app is None:
            app = Celery("flowplan", broker=broker, set_as_current=False)
            app.conf.update(
                task_serializer="json", accept_content=["json"], task_ignore_result=True,
                task_default_queue=DEFAULT_QUEUE, worker_prefetch_multiplier=1,
                task_acks_late=False, broker_connection_timeout=3,
                broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
                broker_transport_options={"socket_connect_timeout": 3})
            _APPS[broker] = app
        if run_task is not None and TASK_NAME not in app.tasks:
            app.task(name=TASK_NAME, ignore_result=True)(run_task)
        return app


def connection_errors() -> tuple[type[BaseException], ...]:
    """What sending or waiting raises when the broker cannot be reached."""
    import kombu.exceptions
    import redis.exceptions

    return (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError, OSError)


def redis_client(broker: str, *, read_timeout: float | None = None) -> Any:
    """A Redis client for the heartbeat and answer keys, on the broker's server. Its threads
    share up to POOL_CONNECTIONS connections and wait for a free one (redis-py's default pool
    fails a command past 100 at once instead). `read_timeout`: how long a reply may take (a
    blocking read's own wait included) before the server counts as unreachable."""
    import redis

    pool = redis.BlockingConnectionPool.from_url(
        broker, max_connections=POOL_CONNECTIONS, timeout=POOL_WAIT_SECONDS,
        socket_connect_timeout=3, socket_timeout=read_timeout, health_check_interval=30)
    return redis.Redis(connection_pool=pool)

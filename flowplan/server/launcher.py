"""Starting runs for the server: `Launcher.start` records a run at once (so an HTTP answer can
name it) and drives it on a thread of its own, within each pipeline's concurrency limit.

What runs is the applied definition, with the sensitive values it needs, as `flowplan run` gets
them (`engine.prepare_run`; its `RunRefused` becomes `LaunchRefused`). Preparing loads the config
and opens the store, which costs tens of milliseconds, so the result is kept per pipeline and
pipeline variables and used again while nothing it was made from changed: the state file (every
`apply` rewrites it), the config's `*.hcl` and `*.auto.fpvars` files, and the store secrets the
definition uses. A new apply is seen by the next start.

Concurrency. A pipeline's `max_concurrent_runs` counts its runs that are `running` in the store,
whichever process drives them, and those this launcher has handed to a thread but that have not
claimed the run yet; a run waiting for a person holds no slot. Past the limit, `on_limit` says:
`queue` (the run is recorded `queued` and started first-in first-out when a slot frees; a slot
freed by another process is noticed within a second), `reject_new` (`LaunchRefused`, nothing
recorded) or `cancel_oldest` (the oldest running runs are canceled until one slot is free, then
the new run starts). Two servers on one store may each take the last slot at the same moment:
the count is exact within one process only. Besides, at most `max_drives` runs (default: twice
the processors) are driven by one launcher at once, like a CI server's executors; the others
wait, queued, in the same first-in first-out order. Drives share the server's process with the
HTTP answers, so this also keeps a burst of runs from slowing the answers down.

Stopping (`shutdown`): new starts are refused, runs still waiting for a slot are left `queued`
(the next server start marks them interrupted, as the process that recorded them is gone), and
the runs being driven are canceled as Ctrl-C cancels `flowplan run` (their steps get SIGTERM,
then SIGKILL after the grace period; the run is recorded `canceled: the server stopped`), so
`flowplan retry` continues them. A drive still going when the timeout ends is left to
`mark_interrupted` at the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowplan.executor.service import RunService
from flowplan.executor.status import Status
from flowplan.store import DeliveryClaim, DeliveryRecord, DeliveryRedelivered, RunRecord

if TYPE_CHECKING:
    from flowplan.engine import StateBackend

log = logging.getLogger("flowplan.server")

QUEUE, REJECT_NEW, CANCEL_OLDEST = "queue", "reject_new", "cancel_oldest"
DEFAULT_MAX_DRIVES = 2 * (os.cpu_count() or 2)   # runs driven at once by one server
PUMP_INTERVAL = 1.0          # how often waiting runs look for a slot freed elsewhere
HOLD_SECONDS = 2.0           # the longest a run waits for the receiver to be idle (see answering)
QUIET_SECONDS = 0.05         # idle means no delivery answered for this long (bursts come in waves)


class LaunchRefused(Exception):
    """A run that cannot start; the message says why and what to do (unknown pipeline, not
    applied, a sensitive value missing, on_limit = reject_new, the server stopping)."""


@dataclass(frozen=True)
class Admission:
    """What a new run of a pipeline may do now: `start`, `queue` or `reject`, after canceling
    `cancel` (refs, oldest first); `message` says why for a refusal."""

    action: str
    cancel: tuple[str, ...] = ()
    message: str = ""


def admit(pipeline: str, definition: Mapping[str, Any], occupied: Sequence[RunRecord]
          ) -> Admission:
    """The concurrency rule of `definition` for one more run, given the runs that hold its
    slots (`occupied`). Pure: the launcher and `flowplan run` both ask it."""
    limit = definition.get("max_concurrent_runs")
    if not isinstance(limit, int) or limit < 1 or len(occupied) < limit:
        return Admission("start")
    on_limit = definition.get("on_limit") or QUEUE
    holding = f"{pipeline} has {len(occupied)} running run{'s' if len(occupied) != 1 else ''} " \
              f"(max_concurrent_runs = {limit})"
    if on_limit == REJECT_NEW:
        return Admission("reject", message=f"{holding} and on_limit = \"reject_new\": try "
                                           "again when one has finished")
    if on_limit == CANCEL_OLDEST:
        oldest = sorted(occupied, key=lambda run: run.id)[:len(occupied) - limit + 1]
        return Admission("start", cancel=tuple(run.ref for run in oldest),
                         message=f"{holding}: canceling the oldest")
    return Admission("queue", message=f"{holding}: queued until one finishes")


@dataclass
class _Prepared:
    """A prepared pipeline kept for reuse, and what it was made from."""

    key: tuple
    definition: dict
    origin: str
    variables: dict[str, Any]
    sensitive: frozenset[str]
    service: RunService          # the launcher's store; this config's settings and state


@dataclass
class _Waiting:
    record: RunRecord
    prepared: _Prepared
    since: float = field(default_factory=time.monotonic)


class Launcher:
    """Starts and drives runs on background threads; one per server. Thread-safe."""

    def __init__(self, directory: Path, service: RunService, *,
                 environ: Mapping[str, str] | None = None,
                 max_drives: int = DEFAULT_MAX_DRIVES,
                 state: StateBackend | None = None,
                 prepare: Callable[..., Any] | None = None) -> None:
        from flowplan import engine

        self.directory = Path(directory)
        self.service = service
        self.environ = dict(os.environ if environ is None else environ)
        self.max_drives = max(1, int(max_drives))
        self._prepare_run = prepare or engine.prepare_run
        self._state = state
        self._lock = threading.Condition()
        self._prepared: dict[tuple, _Prepared] = {}
        self._prepare_locks: dict[tuple, threading.Lock] = {}
        self._waiting: deque[_Waiting] = deque()
        self._driving: dict[int, tuple[RunRecord, threading.Thread]] = {}
        self._background: dict[threading.Thread, str] = {}     # continuations, by run ref
        self._accepting = True
        self._pump_thread: threading.Thread | None = None
        self._batcher = _Batcher(service.store)
        self._answering = 0
        self._answered_at = 0.0             # monotonic time the last answer was given

    # -- starting -------------------------------------------------------------------------------

    def start(self, pipeline: str, *, trigger: str, user: str | None,
              variables: Mapping[str, str] | None = None, branch: str | None = None,
              commit: str | None = None, delivery: DeliveryClaim | None = None) -> RunRecord:
        """Record a run of `pipeline`'s applied definition (queued) and drive it on a thread
        when the concurrency rules allow. LaunchRefused when it cannot start. With `delivery`,
        its id is claimed as the run is recorded, and the delivery recorded accepted with the
        run: DeliveryRedelivered (nothing recorded, nothing started) when it was claimed
        before."""
        self._check_accepting()
        prepared = self._prepare(pipeline, dict(variables or {}))
        request = self._request(pipeline, prepared, trigger, user, branch, commit)
        if not isinstance(prepared.definition.get("max_concurrent_runs"), int):
            record = self._batcher.submit(delivery, request)
            with self._lock:
                self._waiting.append(_Waiting(record, prepared))
                self._pump()
            return record
        store = self.service.store
        with self._lock:        # count, decide and record at once for this process
            self._check_accepting()
            admission = admit(pipeline, prepared.definition, self._occupied(pipeline))
            if admission.action == "reject":
                raise LaunchRefused(admission.message)
            claimed = _claim(store, delivery) if delivery is not None else None
            for ref in admission.cancel:
                self._cancel_for_limit(ref, pipeline)
            record = store.create_run(**request)
            if claimed is not None:
                store.finish_delivery(claimed.id, run_id=record.id)
            self._waiting.append(_Waiting(record, prepared))
            self._pump()
        return record

    async def start_soon(self, pipeline: str, *, trigger: str, user: str | None,
                         variables: Mapping[str, str] | None = None,
                         branch: str | None = None, commit: str | None = None,
                         delivery: DeliveryClaim | None = None) -> RunRecord:
        """`start` for an event loop: when the pipeline is prepared already and has no
        concurrency limit, the run is recorded by the batch without a thread waiting for it
        (on a small machine, the hop to a thread and back costs an answer as much as the
        rest); otherwise `start` on a worker thread."""
        from starlette.concurrency import run_in_threadpool

        self._check_accepting()
        prepared = self._prepared_if_unchanged(pipeline, dict(variables or {}))
        if prepared is None or isinstance(prepared.definition.get("max_concurrent_runs"), int):
            return await run_in_threadpool(
                lambda: self.start(pipeline, trigger=trigger, user=user, variables=variables,
                                   branch=branch, commit=commit, delivery=delivery))
        request = self._request(pipeline, prepared, trigger, user, branch, commit)
        record = await self._batcher.submit_soon(delivery, request)
        with self._lock:
            self._waiting.append(_Waiting(record, prepared))
            self._pump()
        return record

    def continue_in_background(self, run: str, action: Callable[[], Any]) -> None:
        """Run `action` (an approve, reject, retry, resume or skip that continues `run`) on a
        thread of its own, so that the HTTP answer does not wait for the run."""
        self._check_accepting()

        def body() -> None:
            try:
                action()
            except Exception:  # noqa: BLE001 - a thread's error goes to the log, not a traceback
                log.exception("continuing %s failed", run)
            finally:
                with self._lock:
                    self._background.pop(threading.current_thread(), None)

        thread = threading.Thread(target=body, name=f"flowplan-continue-{run}", daemon=True)
        with self._lock:
            self._background[thread] = run
        thread.start()

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Around the answer to a request that may start runs (a webhook delivery): while any
        is being answered, recorded runs wait to be driven (up to HOLD_SECONDS), so that a
        burst of deliveries is answered first. Drives share this process, and on a small
        machine fifty of them starting amid fifty answers slow every answer down."""
        with self._lock:
            self._answering += 1
        try:
            yield
        finally:
            with self._lock:
                self._answering -= 1
                self._answered_at = time.monotonic()
                if self._waiting:       # the pump starts them once the receiver is quiet
                    self._ensure_pump_thread()
                    self._lock.notify_all()

    def running(self) -> list[str]:
        """Refs of the runs this launcher drives now, or continues (an approval, a retry, ...)."""
        with self._lock:
            refs = [record.ref for record, _thread in self._driving.values()]
            return refs + sorted(set(self._background.values()) - set(refs))

    def waiting(self) -> list[str]:
        """Refs of the runs recorded and waiting for a slot, in the order they will start."""
        with self._lock:
            return [w.record.ref for w in self._waiting]

    def shutdown(self, timeout: float = 10.0) -> None:
        """Refuse new starts, cancel the runs being driven (their steps are signalled) and wait
        up to `timeout` seconds for their drives to record the end."""
        import time

        with self._lock:
            self._accepting = False
            self._waiting.clear()          # left queued: the next start marks them interrupted
            driving = [(record, thread) for record, thread in self._driving.values()]
            continued = dict(self._background)
            self._lock.notify_all()
        refs = [record.ref for record, _thread in driving]
        for ref in refs + sorted(set(continued.values()) - set(refs)):
            try:
                self.service.cancel(ref, reason="canceled: the server stopped")
            except Exception as exc:  # noqa: BLE001 - finished meanwhile, or the store is gone
                log.info("stopping %s: %s", ref, exc)
        deadline = time.monotonic() + timeout
        for _record, thread in driving + [(None, t) for t in continued]:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- inside ---------------------------------------------------------------------------------

    def _check_accepting(self) -> None:
        if not self._accepting:
            raise LaunchRefused("the server is stopping: start the run again once it is back")

    def _request(self, pipeline: str, prepared: _Prepared, trigger: str, user: str | None,
                 branch: str | None, commit: str | None) -> dict[str, Any]:
        """What recording the run takes (Store.create_run's arguments)."""
        from flowplan.executor.errors import RunServiceError

        try:
            return self.service.run_request(pipeline, prepared.definition,
                                            variables=prepared.variables,
                                            sensitive=prepared.sensitive, branch=branch,
                                            commit=commit, trigger=trigger, user=user,
                                            origin=prepared.origin)
        except RunServiceError as exc:
            raise LaunchRefused(str(exc)) from None

    def _occupied(self, pipeline: str, *, waiting: bool = True) -> list[RunRecord]:
        """Runs of `pipeline` holding a slot: running in the store (any process), or handed to
        a thread here, or (with `waiting`) waiting here for one."""
        mine = {record.id for record, _t in self._driving.values()
                if record.pipeline == pipeline}
        if waiting:
            mine |= {w.record.id for w in self._waiting if w.record.pipeline == pipeline}
        rows = self.service.store.list_runs(
            pipeline, statuses=[Status.RUNNING.value, Status.QUEUED.value], limit=10_000)
        return [run for run in rows
                if run.status == Status.RUNNING.value or run.id in mine]

    def _cancel_for_limit(self, ref: str, pipeline: str) -> None:
        from flowplan.executor.errors import RunServiceError

        self._waiting = deque(w for w in self._waiting if w.record.ref != ref)
        try:
            self.service.cancel(ref, reason=f"canceled: a newer run of {pipeline} started "
                                            "(on_limit = \"cancel_oldest\")")
        except RunServiceError as exc:      # finished meanwhile
            log.info("cancel_oldest: %s", exc)

    def _pump(self) -> None:
        """Hand waiting runs to threads, first come first served, while the drive cap and their
        pipeline's limit allow. Called with the lock held."""
        if not self._accepting:
            return
        now = time.monotonic()
        busy = self._busy(now)
        if not self._waiting or len(self._driving) >= self.max_drives or (
                busy and now - self._waiting[0].since < HOLD_SECONDS):
            if self._waiting:           # the oldest waits yet, and so do the later ones
                self._ensure_pump_thread()
            return
        full: set[str] = set()
        kept: deque[_Waiting] = deque()
        while self._waiting:
            waiting = self._waiting.popleft()
            pipeline = waiting.record.pipeline
            held = busy and now - waiting.since < HOLD_SECONDS
            if held or len(self._driving) >= self.max_drives or pipeline in full:
                kept.append(waiting)
                continue
            limit = waiting.prepared.definition.get("max_concurrent_runs")
            if isinstance(limit, int):
                if len(self._occupied(pipeline, waiting=False)) >= limit:
                    full.add(pipeline)
                    kept.append(waiting)
                    continue
            self._dispatch(waiting)
        self._waiting = kept
        if kept:
            self._ensure_pump_thread()

    def _busy(self, now: float) -> bool:
        """Whether deliveries are being answered: one is, or one was within QUIET_SECONDS (the
        next wave of a burst is on its way)."""
        return self._answering > 0 or now - self._answered_at < QUIET_SECONDS

    def _dispatch(self, waiting: _Waiting) -> None:
        record = waiting.record
        thread = threading.Thread(target=self._drive, args=(waiting,),
                                  name=f"flowplan-run-{record.ref}", daemon=True)
        self._driving[record.id] = (record, thread)
        thread.start()

    def _drive(self, waiting: _Waiting) -> None:
        from flowplan.executor.errors import RunServiceError
        from flowplan.store.schema import utc_now

        record, prepared = waiting.record, waiting.prepared
        try:
            if Status(self.service.store.run_status(record.id) or "canceled").finished:
                return                      # canceled while it waited
            prepared.service.drive(record.ref, variables=prepared.variables,
                                   sensitive=prepared.sensitive)
        except RunServiceError as exc:      # run_as refused, a value missing: the run fails
            self._fail(record, str(exc), utc_now())
        except Exception as exc:  # noqa: BLE001 - recorded on the run and logged
            log.exception("driving %s failed", record.ref)
            self._fail(record, f"flowplan error: {type(exc).__name__}: {exc}", utc_now())
        finally:
            with self._lock:
                self._driving.pop(record.id, None)
                self._pump()
                self._lock.notify_all()

    def _fail(self, record: RunRecord, error: str, now: Any) -> None:
        finished = [s.value for s in Status if s.finished]
        try:
            self.service.store.update_run(record.id, unless_status=finished,
                                          status=Status.FAILED.value, finished_at=now,
                                          error=error)
        except Exception:  # noqa: BLE001 - the store is gone: the next start marks it
            log.exception("recording the failure of %s", record.ref)

    def _ensure_pump_thread(self) -> None:
        if self._pump_thread is not None and self._pump_thread.is_alive():
            return
        self._pump_thread = threading.Thread(target=self._pump_loop, name="flowplan-queue",
                                             daemon=True)
        self._pump_thread.start()

    def _pump_loop(self) -> None:
        """While runs wait, look for slots freed elsewhere (another process's run ending)."""
        with self._lock:
            while self._accepting and self._waiting:
                self._lock.wait(QUIET_SECONDS if self._busy(time.monotonic())
                                else PUMP_INTERVAL)
                try:
                    self._pump()
                except Exception:  # noqa: BLE001 - the store hiccuped: try again next time
                    log.exception("starting waiting runs")

    # -- preparing ------------------------------------------------------------------------------

    def _prepare(self, pipeline: str, variables: dict[str, str]) -> _Prepared:
        """The prepared run of `pipeline` with `variables`, reused while its sources are
        unchanged; LaunchRefused when it cannot run."""
        name = (pipeline, tuple(sorted(variables.items())))
        with self._lock:
            lock = self._prepare_locks.setdefault(name, threading.Lock())
        with lock:                      # one preparation per pipeline at a time
            kept = self._prepared.get(name)
            names = kept.sensitive if kept is not None else frozenset()
            before = self._sources_key(names)       # taken before reading: an apply meanwhile
            if kept is not None and kept.key == before:     # is seen next time
                return kept
            prepared = self._prepare_now(pipeline, variables)
            prepared.key = before if prepared.sensitive == names else \
                self._sources_key(prepared.sensitive)
            self._prepared[name] = prepared
            return prepared

    def _prepared_if_unchanged(self, pipeline: str, variables: dict[str, str]
                               ) -> _Prepared | None:
        """The kept preparation when nothing it was made from changed (a few `stat`s), else
        None."""
        kept = self._prepared.get((pipeline, tuple(sorted(variables.items()))))
        if kept is None or kept.key != self._sources_key(kept.sensitive, recent=True):
            return None
        return kept

    def _prepare_now(self, pipeline: str, variables: dict[str, str]) -> _Prepared:
        from flowplan.diagnostics import DiagnosticsError
        from flowplan.engine import RunRefused

        try:
            prepared = self._prepare_run(self.directory, pipeline,
                                         pipeline_variables=variables, environ=self.environ)
        except RunRefused as exc:
            raise LaunchRefused(str(exc)) from None
        except DiagnosticsError as exc:     # summaries only: the answer may go to a sender
            summaries = "; ".join(f"{d.summary} at {d.range}" if d.range else d.summary
                                  for d in exc.diagnostics)
            raise LaunchRefused(f"the config does not load ({summaries}): flowplan validate "
                                "shows why") from None
        made = prepared.service
        service = RunService(self.service.store, self.service.settings,
                             resources=made.resources, targets=made.targets)
        if made.store is not self.service.store:
            made.store.close()          # it opened a store of its own: ours serves the run
        return _Prepared((), prepared.definition, prepared.origin, dict(prepared.variables),
                         frozenset(prepared.sensitive), service)

    def _sources_key(self, secret_names: frozenset[str], recent: bool = False) -> tuple:
        """What a prepared run is made from: the state (its backend's `stamp`), the config's
        files, and the store secrets it uses (their encrypted tokens). `recent`: a key at most
        RECENT_SECONDS old will do (the event loop's fast path)."""
        tokens = tuple((name, self.service.store.get_secret_token(name))
                       for name in sorted(secret_names))
        files = recent_sources_key if recent else sources_key
        return (files(self.directory, self._state_backend()), tokens)

    def _state_backend(self) -> StateBackend:
        """The state backend the config's `flowplan { state {} }` names (opened once)."""
        if self._state is None:
            from flowplan.config.loader import load_config
            from flowplan.engine import backend_for
            from flowplan.state import LocalStateBackend

            config = load_config(self.directory, environ=self.environ)
            try:
                self._state = backend_for(self.directory, config.settings, config.team)
            except Exception:  # noqa: BLE001 - an unusable backend: prepare_run reports it
                self._state = LocalStateBackend(self.directory / ".flowplan" / "state.json")
        return self._state


_LISTINGS: dict[Path, tuple[int, tuple[Path, ...]]] = {}   # directory -> (its mtime, files)
_LISTINGS_LOCK = threading.Lock()

# How old a sources key the event loop's fast paths take (recent_sources_key), in seconds.
RECENT_SECONDS = 0.1
_RECENT: dict[tuple[Path, str], tuple[float, tuple]] = {}   # -> (when taken, the key)


def recent_sources_key(directory: Path, state: StateBackend) -> tuple:
    """`sources_key`, taken again only when the last one is older than RECENT_SECONDS: what the
    event loop asks for every delivery. Each `stat` (or, with the pg backend, the stamp's query)
    lets go of the interpreter lock, and with runs busy on other threads the loop can wait a
    whole switch interval to get it back, several times per delivery: the tail of the answers.
    An apply is seen at most RECENT_SECONDS late, as if the delivery had come that much
    earlier; the thread paths (`HookTargets.get`, `Launcher._prepared`) always look."""
    now = time.monotonic()
    name = (directory, str(state.path))
    taken = _RECENT.get(name)
    if taken is not None and now - taken[0] < RECENT_SECONDS:
        return taken[1]
    key = sources_key(directory, state)
    _RECENT[name] = (now, key)
    return key


def state_stamp(state: StateBackend) -> tuple:
    """`state.stamp()`, or a key saying it could not be taken (the database is down: the state
    is read again once it answers, and reading it then says what is wrong)."""
    from flowplan.state import StateError

    try:
        return state.stamp()
    except StateError:
        return ("unreadable", str(state.path))


def sources_key(directory: Path, state: StateBackend) -> tuple:
    """A key that changes when the state is written (its backend's `stamp`: the local file's
    `stat`, the pg row's serial and lineage in one query) or any of the config's `*.hcl` and
    `*.auto.fpvars` files changes (written in place, replaced, added or removed): the `stat` of
    each, and the directory's own, which adding, removing or renaming a file changes. The
    listing is read again only then, so asking costs a few `stat`s and the stamp."""
    from flowplan.config.files import config_files, variable_files

    try:
        mtime = os.stat(directory).st_mtime_ns
    except OSError:
        return ("missing", str(directory))
    with _LISTINGS_LOCK:
        listed = _LISTINGS.get(directory)
    if listed is None or listed[0] != mtime:
        try:
            files = tuple(config_files(directory) + variable_files(directory))
        except OSError:
            files = ()
        listed = (mtime, files)
        with _LISTINGS_LOCK:
            _LISTINGS[directory] = listed
    stats: list[tuple] = [("dir", mtime), state_stamp(state)]
    for path in listed[1]:
        try:
            info = os.stat(path)
            stats.append((str(path), info.st_ino, info.st_size, info.st_mtime_ns))
        except OSError:
            stats.append((str(path), None))
    return tuple(stats)


def _claim(store: Any, delivery: DeliveryClaim) -> DeliveryRecord:
    """Claim `delivery`'s id, recording it accepted (DeliveryRedelivered when taken)."""
    return store.record_delivery(delivery.webhook, outcome="accepted", status=202,
                                 reason=delivery.reason, sender=delivery.sender,
                                 event=delivery.event, delivery_id=delivery.delivery_id,
                                 once=True)


class _Slot:
    def __init__(self, delivery: DeliveryClaim | None, request: dict[str, Any],
                 notify: Callable[[], None] | None = None) -> None:
        self.delivery = delivery
        self.request = request
        # A waiting thread's Event, or `notify` (called on the batch's thread) for an event
        # loop's caller, which needs no Event (making one per delivery costs a fast answer).
        self.done = threading.Event() if notify is None else None
        self.notify = notify
        self.result: RunRecord | None = None
        self.error: BaseException | None = None

    def outcome(self) -> RunRecord:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


class _Batcher:
    """Records runs, and claims their deliveries, for many callers at once: each caller waits
    while one thread records everything that came in meanwhile in one transaction
    (Store.accept_deliveries), a group commit. When that fails as a whole (another process
    claimed an id or took a run number first), each is recorded on its own."""

    MAX_BATCH = 200

    def __init__(self, store: Any) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, delivery: DeliveryClaim | None, request: dict[str, Any]) -> RunRecord:
        slot = _Slot(delivery, request)
        self._put(slot)
        assert slot.done is not None
        slot.done.wait()
        return slot.outcome()

    async def submit_soon(self, delivery: DeliveryClaim | None, request: dict[str, Any]
                          ) -> RunRecord:
        """`submit` for an event loop: it is woken when the batch is recorded."""
        import asyncio

        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def notify() -> None:
            loop.call_soon_threadsafe(lambda: future.done() or future.set_result(None))

        slot = _Slot(delivery, request, notify)
        self._put(slot)
        await future
        return slot.outcome()

    def _put(self, slot: _Slot) -> None:
        self._queue.put(slot)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="flowplan-record-runs")
                self._thread.start()

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                results = self.store.accept_deliveries([(s.delivery, s.request) for s in batch])
            except Exception:  # noqa: BLE001 - a conflict with another process: one by one
                for slot in batch:
                    self._one(slot)
            else:
                for slot, result in zip(batch, results):
                    if isinstance(result, DeliveryRecord):
                        slot.error = DeliveryRedelivered(result)
                    else:
                        slot.result = result
            for slot in batch:
                if slot.done is not None:
                    slot.done.set()
                if slot.notify is not None:
                    slot.notify()

    def _one(self, slot: _Slot) -> None:
        try:
            claimed = _claim(self.store, slot.delivery) if slot.delivery is not None else None
            slot.result = self.store.create_run(**slot.request)
            if claimed is not None:
                self.store.finish_delivery(claimed.id, run_id=slot.result.id)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            slot.error = exc

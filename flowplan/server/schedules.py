"""The scheduler of `flowplan serve`: which registered `schedule` resources are due, and one run
for each that is.

`Scheduler.tick(now)` looks at every schedule in the store (`Store.list_schedules`). The fire
times come from croniter in the schedule's time zone (zoneinfo): a time the spring change skips
fires at the first minute after the gap (croniter's rule); a wall-clock time the autumn change
repeats fires once when the cron names its hours (a nightly `30 2 * * *`), and in both passes
when its hour field is `*` (an hourly job keeps its real hours).

What the scheduler did last is kept per schedule in the store (`schedule_ticks`), so a restarted
server goes on where it stopped:

- a schedule seen for the first time is recorded as seen now and fires nothing: no run for fire
  times before the server knew it;
- a schedule is due when its latest fire time at or before `now` is later than the one it last
  dealt with; however many fire times were missed (the server was down for days), that is one
  run, for the latest of them: catching up once, never a burst;
- `enabled = false`: no run (the fire time is still recorded, so enabling it again does not
  catch up on the time it was off);
- `only_if_changed = true`: the head commit of the pipeline's source (its `url`, at the
  schedule's `branch` or else the source's) is read (`head`, by default `remote_head`: `git
  ls-remote` with a timeout) and the run is skipped, with a note, when it is the commit the last
  scheduled run started at; an unreadable head is a note, not a run;
- the pipeline no longer registered, the launch refused or failing (`start` raising): a note.

In every case the fire time counts as dealt with, so a failing launch is tried again at the next
fire time, not at every tick. Each outcome is recorded in the store and returned.

Starting the run is the caller's (`start(schedule, commit)`, the server's launcher); `tick` is
called by the server's timer with the current time, and by tests with a fake one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from flowplan.store import ScheduleRecord, ScheduleTickRecord, Store

log = logging.getLogger(__name__)

HEAD_TIMEOUT_SECONDS = 30           # how long `git ls-remote` may take before it is killed
MAX_NOTE = 500                      # characters of an error kept in a note
_MAX_WALK = 10_000                  # fire times walked from the anchor to now, at most


@dataclass(frozen=True)
class ScheduleOutcome:
    """What a tick did for one schedule: the fire time it dealt with (None when the schedule
    was first seen), the run it started (`pipe#7`) or None, and a note for the person."""

    schedule: str
    fired_for: datetime | None
    run: str | None
    note: str


class HeadUnreadable(Exception):
    """The head commit of a pipeline's source could not be read; the message says why (no
    password in it)."""


def pipeline_name(schedule: ScheduleRecord) -> str:
    """The name of the pipeline a schedule starts (`pipeline.app` -> `app`)."""
    address = schedule.pipeline
    return address.split(".", 1)[1] if address.startswith("pipeline.") else address


def remote_head(source: Mapping[str, Any] | None) -> str | None:
    """The commit at the head of `source` (a pipeline's `source` block: `url`, with `branch`,
    else `tag`, else the remote's HEAD); a pinned `commit` is its own head. None when there is
    no source url. `HeadUnreadable` when git cannot read it within HEAD_TIMEOUT_SECONDS. A
    local path is read as git reads it (relative to the current directory)."""
    from git.cmd import Git
    from git.exc import GitCommandError, UnsafeProtocolError

    from flowplan.executor.run.checkout import display_url, transport_of

    url = source.get("url") if source else None
    if not isinstance(url, str) or not url:
        return None
    shown = display_url(url)
    if source.get("commit"):
        return str(source["commit"])
    if url.startswith("-"):
        raise HeadUnreadable(f"{shown} is not a repository URL")
    try:
        Git.check_unsafe_protocols(url)
    except UnsafeProtocolError:
        raise HeadUnreadable(f"{shown}: remote helpers (transport::address) are not "
                             "allowed") from None
    if source.get("branch"):
        ref = f"refs/heads/{source['branch']}"
    elif source.get("tag"):
        ref = f"refs/tags/{source['tag']}"
    else:
        ref = "HEAD"
    target = url
    if transport_of(url) == "local":
        from pathlib import Path

        target = str(Path(url).expanduser().resolve())
    patterns = [ref, f"{ref}^{{}}"] if source.get("tag") else [ref]    # a tag's commit
    try:
        listing = Git().ls_remote(target, *patterns, kill_after_timeout=HEAD_TIMEOUT_SECONDS,
                                  env={"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true",
                                       "SSH_ASKPASS": "true"})
    except GitCommandError as error:
        detail = _without_password(str(error.stderr or "").strip(), url, shown)
        last = detail.splitlines()[-1] if detail else f"git exited {error.status}"
        raise HeadUnreadable(f"the head of {shown} ({ref}) could not be read: "
                             f"{last.removeprefix('stderr: ')[:MAX_NOTE]}") from None
    heads = dict(reversed(line.split("\t", 1)) for line in listing.splitlines()
                 if "\t" in line)
    found = heads.get(f"{ref}^{{}}") or heads.get(ref)    # a tag's commit, peeled
    if not found:
        raise HeadUnreadable(f"{shown} has no {ref}")
    return found


def _without_password(text: str, url: str, shown: str) -> str:
    text = text.replace(url, shown)
    password = urlsplit(url).password if "://" in url else None
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(secret, "***")
    return text


def _second_pass(fire: datetime, zone: ZoneInfo) -> bool:
    """Whether `fire` is the second occurrence of a wall-clock time the clock went back over."""
    wall = fire.replace(tzinfo=None)
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    return first.utcoffset() != second.utcoffset() and fire.utcoffset() == second.utcoffset()


def latest_fire_time(cron: str, zone_name: str, now: datetime,
                     after: datetime) -> datetime | None:
    """The latest fire time of `cron` in `zone_name` at or before `now` and later than
    `after` (UTC), or None. A repeated wall-clock time fires once when the cron names its
    hours. ValueError (from croniter or zoneinfo) for an expression or zone that is wrong.

    croniter's `get_prev` is strictly before its start and can step over the second pass of a
    repeated hour, while `get_next` walks such hours right: so two fire times back is only the
    anchor, and the walk forward from it (or from `after`) finds the fire times up to `now`."""
    from croniter import croniter

    zone = ZoneInfo(zone_name)
    hourly = croniter(cron).expanded[1] == ["*"]
    back = croniter(cron, now.astimezone(zone))
    back.get_prev(datetime)
    anchor = back.get_prev(datetime).astimezone(timezone.utc)
    candidates = [anchor] if after < anchor <= now else []
    forward = croniter(cron, max(anchor, after).astimezone(zone))
    for _ in range(_MAX_WALK):
        fire = forward.get_next(datetime)
        if fire > now:
            break
        candidates.append(fire)
    for fire in reversed(candidates):
        if fire <= after:
            return None
        if hourly or not _second_pass(fire.astimezone(zone), zone):
            return fire.astimezone(timezone.utc)
    return None


class Scheduler:
    """Starts the runs of registered schedules when they are due; one `tick` at a time."""

    def __init__(self, store: Store, start: Callable[[ScheduleRecord, str | None], str], *,
                 head: Callable[[dict], str | None] = remote_head) -> None:
        self._store = store
        self._start = start
        self._head = head

    def tick(self, now: datetime) -> list[ScheduleOutcome]:
        """Deal with every schedule due at `now` (timezone-aware); what was done, per schedule
        that had something to do (a disabled one reports nothing)."""
        if now.tzinfo is None:
            raise ValueError("the scheduler needs a timezone-aware time")
        now = now.astimezone(timezone.utc)
        outcomes = []
        for schedule in self._store.list_schedules():
            outcome = self._tick_one(schedule, now)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _tick_one(self, schedule: ScheduleRecord, now: datetime) -> ScheduleOutcome | None:
        tick = self._store.get_schedule_tick(schedule.name)
        if tick is None or tick.updated_at < schedule.created_at:   # new, or a new one of
            note = "first seen: runs from its next fire time on"     # a name used before
            self._store.put_schedule_tick(schedule.name, last_fired_at=now, last_note=note)
            return ScheduleOutcome(schedule.name, None, None, note)
        try:
            due = latest_fire_time(schedule.cron, schedule.timezone, now, tick.last_fired_at)
        except (ValueError, KeyError) as error:     # croniter and zoneinfo's own errors
            note = (f"not started: no fire times for {schedule.cron!r} in "
                    f"{schedule.timezone} ({_text(error)})")
            if note == tick.last_note:              # said already: no write at every tick
                return None
            self._store.put_schedule_tick(schedule.name, last_fired_at=tick.last_fired_at,
                                          last_commit=tick.last_commit,
                                          last_run=tick.last_run, last_note=note)
            return ScheduleOutcome(schedule.name, None, None, note)
        if due is None:
            return None
        definition = schedule.definition or {}
        if definition.get("enabled", True) is False:
            self._record(schedule, tick, due, None, "disabled (enabled = false): not started")
            return None
        pipeline = self._store.get_pipeline(pipeline_name(schedule))
        if pipeline is None:
            return self._record(schedule, tick, due, None,
                                f"pipeline {pipeline_name(schedule)} is not registered (any "
                                "more): not started; apply a config that declares it")
        commit = None
        if definition.get("only_if_changed", False) is True:
            declared = pipeline.definition.get("source")
            source = dict(declared) if isinstance(declared, Mapping) else {}
            if definition.get("branch"):
                source.update(branch=definition["branch"], tag=None, commit=None)
            try:
                commit = self._head(source)
            except Exception as error:  # noqa: BLE001 - any failure to read it is a note
                return self._record(schedule, tick, due, None,
                                    f"not started: {_text(error)}")
            if commit is None:
                return self._record(schedule, tick, due, None,
                                    f"not started: only_if_changed needs the source of "
                                    f"pipeline {pipeline.name} (a url), which it has not")
            if commit == tick.last_commit:
                since = f" since {tick.last_run}" if tick.last_run else ""
                return self._record(schedule, tick, due, None,
                                    f"skipped: the source head {commit[:12]} has not moved"
                                    f"{since} (only_if_changed)")
        try:
            run = self._start(schedule, commit)
        except Exception as error:  # noqa: BLE001 - LaunchRefused and any other failure
            log.warning("schedule %s: %s", schedule.name, _text(error))
            return self._record(schedule, tick, due, None, f"not started: {_text(error)}")
        note = f"started {run}" + (f" at {commit[:12]}" if commit else "")
        self._store.put_schedule_tick(schedule.name, last_fired_at=due, last_commit=commit,
                                      last_run=run, last_note=note)
        return ScheduleOutcome(schedule.name, due, run, note)

    def _record(self, schedule: ScheduleRecord, tick: ScheduleTickRecord, fired_for: datetime,
                run: str | None, note: str) -> ScheduleOutcome:
        """Record a fire time dealt with without a run, keeping the last run and its commit
        (what `only_if_changed` compares with)."""
        self._store.put_schedule_tick(schedule.name, last_fired_at=max(fired_for,
                                                                       tick.last_fired_at),
                                      last_commit=tick.last_commit, last_run=tick.last_run,
                                      last_note=note)
        return ScheduleOutcome(schedule.name, fired_for, run, note)


def _text(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text[:MAX_NOTE]

"""flowplan.server.schedules: which schedules are due at a (fake) time, and one run for each —
over the clock changes of Europe/Berlin and in Asia/Seoul, after three days of downtime (once),
with `only_if_changed` against a real git repository whose head moves, and when a schedule is
disabled, its cron is wrong, its pipeline is gone, its source is unreachable or the launch is
refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from git import Actor, Repo

from flowplan.server.schedules import (HeadUnreadable, ScheduleOutcome, Scheduler,
                                       latest_fire_time, pipeline_name, remote_head)
from flowplan.store import Store

UTC = timezone.utc
WHO = Actor("Flowplan Tests", "tests@flowplan.invalid")


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


class Launches:
    """The server's `start`: records each call and returns the run's name; can refuse."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.refuse: Exception | None = None

    def __call__(self, schedule, commit):
        if self.refuse is not None:
            raise self.refuse
        self.calls.append((schedule.name, commit))
        return f"{pipeline_name(schedule)}#{len(self.calls)}"


class LaunchRefused(Exception):
    """As the server's launcher raises it."""


@pytest.fixture
def store(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as opened:
        opened.register_pipeline("app", {"stage": {}}, "h")
        yield opened


@pytest.fixture
def launches():
    return Launches()


def schedule(store, name="nightly", cron="30 2 * * *", zone="UTC", pipeline="pipeline.app",
             **definition):
    store.register_schedule(name, pipeline, cron, zone,
                            {"pipeline": pipeline, "cron": cron, "timezone": zone, **definition})


def run_clock(scheduler, start: datetime, end: datetime, step=timedelta(minutes=10)):
    """Tick from `start` to `end` (inclusive) every `step`; the outcomes, in order."""
    outcomes, now = [], start
    while now <= end:
        outcomes += scheduler.tick(now)
        now += step
    return outcomes


def fired(outcomes: list[ScheduleOutcome]) -> list[datetime]:
    return [o.fired_for for o in outcomes if o.run is not None]


# -- when -----------------------------------------------------------------------------------------

def test_a_schedule_seen_for_the_first_time_fires_nothing_for_the_past(store, launches):
    schedule(store, cron="* * * * *")
    scheduler = Scheduler(store, launches)
    first, = scheduler.tick(utc(2026, 1, 10, 12, 0, 30))
    assert (first.fired_for, first.run) == (None, None)
    assert "first seen" in first.note
    assert launches.calls == []
    assert store.get_schedule_tick("nightly").last_fired_at == utc(2026, 1, 10, 12, 0, 30)
    assert scheduler.tick(utc(2026, 1, 10, 12, 0, 50)) == []
    started, = scheduler.tick(utc(2026, 1, 10, 12, 1))
    assert (started.fired_for, started.run) == (utc(2026, 1, 10, 12, 1), "app#1")


def test_a_daily_schedule_fires_at_its_time_once(store, launches):
    schedule(store, cron="0 2 * * *")
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    assert scheduler.tick(utc(2026, 1, 1, 1, 59, 59)) == []
    outcome, = scheduler.tick(utc(2026, 1, 1, 2, 0))
    assert outcome == ScheduleOutcome("nightly", utc(2026, 1, 1, 2, 0), "app#1",
                                      "started app#1")
    assert scheduler.tick(utc(2026, 1, 1, 2, 0)) == []
    assert scheduler.tick(utc(2026, 1, 1, 23, 0)) == []
    tick = store.get_schedule_tick("nightly")
    assert (tick.last_fired_at, tick.last_run, tick.last_note) == \
        (utc(2026, 1, 1, 2, 0), "app#1", "started app#1")
    assert fired(run_clock(scheduler, utc(2026, 1, 2), utc(2026, 1, 4))) == [
        utc(2026, 1, 2, 2), utc(2026, 1, 3, 2)]


def test_three_days_of_downtime_give_one_run_for_the_latest_missed_time(store, launches):
    schedule(store, cron="0 2 * * *")
    schedule(store, name="hourly", cron="0 * * * *")
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 2, 1, 12, 0))
    assert fired(scheduler.tick(utc(2026, 2, 1, 13, 0))) == [utc(2026, 2, 1, 13, 0)]
    # down from 13:05 on the 1st to 10:17 on the 4th
    outcomes = scheduler.tick(utc(2026, 2, 4, 10, 17))
    assert sorted((o.schedule, o.fired_for) for o in outcomes) == [
        ("hourly", utc(2026, 2, 4, 10, 0)), ("nightly", utc(2026, 2, 4, 2, 0))]
    assert len(launches.calls) == 3
    assert scheduler.tick(utc(2026, 2, 4, 10, 18)) == []
    assert scheduler.tick(utc(2026, 2, 4, 10, 59)) == []


def test_berlin_spring_forward_fires_the_skipped_time_once_just_after_the_gap(store, launches):
    schedule(store, cron="30 2 * * *", zone="Europe/Berlin")
    scheduler = Scheduler(store, launches)
    outcomes = run_clock(scheduler, utc(2026, 3, 27, 12), utc(2026, 3, 31, 12))
    assert fired(outcomes) == [
        utc(2026, 3, 28, 1, 30),          # 02:30 CET
        utc(2026, 3, 29, 1, 0),           # 02:30 does not exist: 03:00 CEST, just after the gap
        utc(2026, 3, 30, 0, 30),          # 02:30 CEST
        utc(2026, 3, 31, 0, 30)]


def test_berlin_spring_forward_an_hourly_schedule_has_no_extra_run(store, launches):
    schedule(store, cron="0 * * * *", zone="Europe/Berlin")
    scheduler = Scheduler(store, launches)
    times = fired(run_clock(scheduler, utc(2026, 3, 28, 22), utc(2026, 3, 29, 4, 0)))
    assert times == [utc(2026, 3, 28, hour) for hour in (23,)] + \
        [utc(2026, 3, 29, hour) for hour in range(0, 5)]       # one run an hour of real time


def test_berlin_fall_back_fires_a_nightly_schedule_once(store, launches):
    schedule(store, cron="30 2 * * *", zone="Europe/Berlin")
    scheduler = Scheduler(store, launches)
    outcomes = run_clock(scheduler, utc(2026, 10, 23, 12), utc(2026, 10, 27, 12))
    assert fired(outcomes) == [
        utc(2026, 10, 24, 0, 30),         # 02:30 CEST
        utc(2026, 10, 25, 0, 30),         # 02:30 CEST; the second 02:30 (CET) does not fire
        utc(2026, 10, 26, 1, 30),         # 02:30 CET
        utc(2026, 10, 27, 1, 30)]


def test_berlin_fall_back_an_hourly_schedule_keeps_both_real_hours(store, launches):
    schedule(store, cron="0 * * * *", zone="Europe/Berlin")
    scheduler = Scheduler(store, launches)
    times = fired(run_clock(scheduler, utc(2026, 10, 24, 21, 30), utc(2026, 10, 25, 4, 0)))
    assert times == [utc(2026, 10, 24, 22), utc(2026, 10, 24, 23)] + \
        [utc(2026, 10, 25, hour) for hour in range(0, 5)]      # 02:00 CEST and 02:00 CET


def test_seoul_has_no_clock_changes_and_fires_at_its_local_time(store, launches):
    schedule(store, cron="0 9 * * 1-5", zone="Asia/Seoul")
    scheduler = Scheduler(store, launches)
    outcomes = run_clock(scheduler, utc(2026, 3, 26, 12), utc(2026, 4, 1, 12), timedelta(hours=1))
    assert fired(outcomes) == [utc(2026, 3, 27, 0), utc(2026, 3, 30, 0), utc(2026, 3, 31, 0),
                               utc(2026, 4, 1, 0)]      # 09:00 KST on weekdays; the 28th, 29th
                                                         # are a weekend


def test_latest_fire_time_takes_now_itself_and_nothing_at_or_before_after():
    now = utc(2026, 5, 1, 10, 0)
    assert latest_fire_time("0 * * * *", "UTC", now, utc(2026, 5, 1, 9, 0)) == now
    assert latest_fire_time("0 * * * *", "UTC", now, now) is None
    assert latest_fire_time("0 0 1 1 *", "UTC", now, utc(2020, 1, 1)) == utc(2026, 1, 1)


def test_the_scheduler_needs_an_aware_time(store, launches):
    with pytest.raises(ValueError, match="timezone-aware"):
        Scheduler(store, launches).tick(datetime(2026, 1, 1, 12, 0))


def test_a_time_in_another_zone_is_the_same_instant(store, launches):
    schedule(store, cron="0 2 * * *")
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    from zoneinfo import ZoneInfo

    outcome, = scheduler.tick(datetime(2026, 1, 1, 11, 0, tzinfo=ZoneInfo("Asia/Seoul")))
    assert outcome.fired_for == utc(2026, 1, 1, 2, 0)


# -- what stops a run -----------------------------------------------------------------------------

def test_a_disabled_schedule_starts_nothing_and_does_not_catch_up_when_enabled(store, launches):
    schedule(store, cron="0 2 * * *", enabled=False)
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    assert run_clock(scheduler, utc(2026, 1, 1), utc(2026, 1, 3, 12), timedelta(hours=1)) == []
    assert launches.calls == []
    assert "disabled" in store.get_schedule_tick("nightly").last_note
    schedule(store, cron="0 2 * * *", enabled=True)
    assert scheduler.tick(utc(2026, 1, 3, 13, 0)) == []          # no catch-up for the off time
    assert fired(scheduler.tick(utc(2026, 1, 4, 2, 0))) == [utc(2026, 1, 4, 2, 0)]


def test_a_refused_launch_is_a_note_and_is_not_retried_until_the_next_fire_time(store,
                                                                                launches):
    schedule(store, cron="0 2 * * *")
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    launches.refuse = LaunchRefused("pipeline app has 2 runs going (max_concurrent_runs = 2, "
                                    "on_limit = reject_new)")
    outcome, = scheduler.tick(utc(2026, 1, 1, 2, 0))
    assert (outcome.fired_for, outcome.run) == (utc(2026, 1, 1, 2, 0), None)
    assert outcome.note == ("not started: pipeline app has 2 runs going (max_concurrent_runs = "
                            "2, on_limit = reject_new)")
    assert store.get_schedule_tick("nightly").last_note == outcome.note
    assert run_clock(scheduler, utc(2026, 1, 1, 2, 0), utc(2026, 1, 2, 1, 59),
                     timedelta(minutes=7)) == []                 # no retry storm
    launches.refuse = None
    assert fired(scheduler.tick(utc(2026, 1, 2, 2, 0))) == [utc(2026, 1, 2, 2, 0)]


def test_a_launch_that_fails_unexpectedly_is_a_note_too(store, launches):
    schedule(store, cron="0 2 * * *")
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    launches.refuse = RuntimeError()
    outcome, = scheduler.tick(utc(2026, 1, 1, 2, 0))
    assert outcome.note == "not started: RuntimeError"


def test_a_schedule_whose_pipeline_is_gone_is_a_note_not_a_crash(store, launches):
    schedule(store, cron="0 2 * * *", pipeline="pipeline.removed")
    schedule(store, name="other", cron="0 2 * * *")
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    outcomes = {o.schedule: o for o in scheduler.tick(utc(2026, 1, 1, 2, 0))}
    assert outcomes["nightly"].run is None
    assert "pipeline removed is not registered" in outcomes["nightly"].note
    assert outcomes["other"].run == "app#1"
    assert launches.calls == [("other", None)]


@pytest.mark.parametrize("cron", ["not a cron", "61 * * * *", "0 0 31 2 *"])
def test_a_bad_cron_in_the_store_is_one_note_and_the_others_still_run(store, launches, cron):
    schedule(store, name="broken", cron=cron)
    schedule(store, cron="0 2 * * *")
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    outcomes = scheduler.tick(utc(2026, 1, 1, 2, 0))
    assert [(o.schedule, o.run) for o in outcomes] == [("broken", None), ("nightly", "app#1")]
    assert outcomes[0].note.startswith(f"not started: no fire times for {cron!r} in UTC")
    assert scheduler.tick(utc(2026, 1, 1, 2, 1)) == []            # said once, not every tick
    assert store.get_schedule_tick("broken").last_note == outcomes[0].note


def test_a_bad_time_zone_in_the_store_is_a_note(store, launches):
    schedule(store, cron="0 2 * * *", zone="Mars/Olympus_Mons")
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    outcome, = scheduler.tick(utc(2026, 1, 1, 2, 0))
    assert outcome.run is None and "Mars/Olympus_Mons" in outcome.note


def test_a_schedule_removed_and_declared_again_starts_afresh(store, launches):
    schedule(store, cron="0 2 * * *")
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    store.delete_schedule("nightly")
    schedule(store, cron="0 2 * * *")
    outcome, = scheduler.tick(utc(2026, 1, 5, 0, 0))
    assert "first seen" in outcome.note and launches.calls == []


# -- only_if_changed, against a real repository ------------------------------------------------

@pytest.fixture
def repository(tmp_path):
    repo = Repo.init(tmp_path / "source", initial_branch="main")
    commit_file(repo, "README", "one\n")
    return repo


def commit_file(repo: Repo, name: str, text: str) -> str:
    path = repo.working_tree_dir + "/" + name
    with open(path, "w") as handle:
        handle.write(text)
    repo.index.add([name])
    return repo.index.commit(f"change {name}", author=WHO, committer=WHO).hexsha


def test_only_if_changed_runs_when_the_head_moves_and_skips_when_it_does_not(store, launches,
                                                                           repository):
    store.register_pipeline("app", {"source": {"url": repository.working_tree_dir,
                                               "branch": "main"}}, "h2")
    schedule(store, cron="0 2 * * *", only_if_changed=True)
    scheduler = Scheduler(store, launches)                   # the real remote_head
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    first_head = repository.head.commit.hexsha

    started, = scheduler.tick(utc(2026, 1, 1, 2, 0))
    assert (started.run, launches.calls) == ("app#1", [("nightly", first_head)])
    assert started.note == f"started app#1 at {first_head[:12]}"
    assert store.get_schedule_tick("nightly").last_commit == first_head

    skipped, = scheduler.tick(utc(2026, 1, 2, 2, 0))
    assert skipped.run is None
    assert skipped.note == (f"skipped: the source head {first_head[:12]} has not moved since "
                            "app#1 (only_if_changed)")
    tick = store.get_schedule_tick("nightly")
    assert (tick.last_commit, tick.last_run, tick.last_fired_at) == \
        (first_head, "app#1", utc(2026, 1, 2, 2, 0))

    moved = commit_file(repository, "README", "two\n")
    again, = scheduler.tick(utc(2026, 1, 3, 2, 0))
    assert (again.run, launches.calls[-1]) == ("app#2", ("nightly", moved))
    assert scheduler.tick(utc(2026, 1, 4, 2, 0))[0].run is None


def test_only_if_changed_watches_the_schedules_branch(store, launches, repository):
    main_head = repository.head.commit.hexsha
    repository.create_head("release")
    repository.heads.release.checkout()
    release_head = commit_file(repository, "VERSION", "2\n")
    repository.heads.main.checkout()
    store.register_pipeline("app", {"source": {"url": repository.working_tree_dir,
                                               "branch": "main"}}, "h2")
    schedule(store, cron="0 2 * * *", only_if_changed=True, branch="release")
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    scheduler.tick(utc(2026, 1, 1, 2, 0))
    assert launches.calls == [("nightly", release_head)] and release_head != main_head
    commit_file(repository, "README", "main moves\n")             # not the watched branch
    assert scheduler.tick(utc(2026, 1, 2, 2, 0))[0].run is None


def test_only_if_changed_with_an_unreachable_source_is_a_note_and_no_run(store, launches,
                                                                        tmp_path):
    store.register_pipeline("app", {"source": {"url": str(tmp_path / "gone")}}, "h2")
    schedule(store, cron="0 2 * * *", only_if_changed=True)
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    outcome, = scheduler.tick(utc(2026, 1, 1, 2, 0))
    assert outcome.run is None and launches.calls == []
    assert outcome.note.startswith(f"not started: the head of {tmp_path / 'gone'} (HEAD) "
                                   "could not be read")
    assert scheduler.tick(utc(2026, 1, 1, 2, 5)) == []


def test_only_if_changed_without_a_source_is_a_note(store, launches):
    schedule(store, cron="0 2 * * *", only_if_changed=True)
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    outcome, = scheduler.tick(utc(2026, 1, 1, 2, 0))
    assert outcome.run is None
    assert "only_if_changed needs the source of pipeline app" in outcome.note


def test_a_head_that_raises_anything_is_a_note(store, launches):
    def broken(source):
        raise OSError("network is down")

    store.register_pipeline("app", {"source": {"url": "https://git.invalid/app.git"}}, "h2")
    schedule(store, cron="0 2 * * *", only_if_changed=True)
    scheduler = Scheduler(store, launches, head=broken)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    assert scheduler.tick(utc(2026, 1, 1, 2, 0))[0].note == "not started: network is down"


def test_without_only_if_changed_the_head_is_not_read(store, launches):
    def never(source):
        raise AssertionError("head read")

    store.register_pipeline("app", {"source": {"url": "https://git.invalid/app.git"}}, "h2")
    schedule(store, cron="0 2 * * *")
    scheduler = Scheduler(store, launches, head=never)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    assert scheduler.tick(utc(2026, 1, 1, 2, 0))[0].run == "app#1"
    assert launches.calls == [("nightly", None)]


# -- remote_head ----------------------------------------------------------------------------------

def test_remote_head_reads_branches_tags_and_head_of_a_local_repository(repository):
    path = repository.working_tree_dir
    first = repository.head.commit.hexsha
    repository.create_tag("v1", message="annotated")             # a tag object: peeled
    second = commit_file(repository, "README", "two\n")
    assert remote_head({"url": path, "branch": "main"}) == second
    assert remote_head({"url": path}) == second
    assert remote_head({"url": path, "tag": "v1"}) == first
    assert remote_head({"url": "file://" + path, "branch": "main"}) == second
    assert remote_head({"url": path, "commit": "abc1234"}) == "abc1234"
    assert remote_head({}) is None and remote_head(None) is None
    with pytest.raises(HeadUnreadable, match="has no refs/heads/nope"):
        remote_head({"url": path, "branch": "nope"})


@pytest.mark.parametrize("url, message", [
    ("-uupload-pack=touch /tmp/pwned", "is not a repository URL"),
    ("ext::sh -c touch% /tmp/pwned", "remote helpers"),
])
def test_remote_head_refuses_options_and_remote_helpers(url, message):
    with pytest.raises(HeadUnreadable, match=message):
        remote_head({"url": url})


def test_remote_head_keeps_a_password_in_the_url_out_of_its_message():
    with pytest.raises(HeadUnreadable) as raised:
        remote_head({"url": "https://deploy:hunter2-pass@127.0.0.1:9/app.git"})
    message = str(raised.value)
    assert "hunter2-pass" not in message
    assert "https://deploy@127.0.0.1:9/app.git" in message


def test_a_source_that_is_not_a_block_counts_as_no_source(store, launches):
    store.register_pipeline("app", {"source": "source.app"}, "h2")
    schedule(store, cron="0 2 * * *", only_if_changed=True)
    scheduler = Scheduler(store, launches)
    scheduler.tick(utc(2026, 1, 1, 0, 0))
    outcome, = scheduler.tick(utc(2026, 1, 1, 2, 0))
    assert outcome.run is None and "needs the source of pipeline app" in outcome.note
    assert remote_head({"url": {"$sensitive": "x"}}) is None

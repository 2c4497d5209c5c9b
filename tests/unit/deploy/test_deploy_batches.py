"""host_deploy's planning, as pure functions: batches, pauses, hosts an earlier attempt deployed,
and what a deploy does next from its records and resumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from flowplan_providers.flowplan.deploy.batches import (Progress, pauses_after, progress,
                                                        skipped_hosts, split)

HOSTS = ["web1", "web2", "web3", "web4", "web5"]


@pytest.mark.parametrize("batches, expected", [
    (1, [("web1", "web2", "web3", "web4", "web5")]),
    (2, [("web1", "web2", "web3"), ("web4", "web5")]),
    (3, [("web1", "web2"), ("web3", "web4"), ("web5",)]),
    (5, [("web1",), ("web2",), ("web3",), ("web4",), ("web5",)]),
    (9, [("web1",), ("web2",), ("web3",), ("web4",), ("web5",)]),
])
def test_split_into_batches_is_as_even_as_possible_with_earlier_batches_not_smaller(
        batches, expected):
    assert split(HOSTS, batches) == expected


@pytest.mark.parametrize("size, expected", [
    (2, [("web1", "web2"), ("web3", "web4"), ("web5",)]),
    (5, [("web1", "web2", "web3", "web4", "web5")]),
    (10, [("web1", "web2", "web3", "web4", "web5")]),
])
def test_batch_size_takes_that_many_hosts_per_batch_the_last_one_smaller(size, expected):
    assert split(HOSTS, batches=4, batch_size=size) == expected


def test_no_hosts_make_no_batches():
    assert split([], 3) == []
    assert split([], batch_size=2) == []


def test_a_batch_count_or_size_below_one_is_refused():
    with pytest.raises(ValueError):
        split(HOSTS, 0)
    with pytest.raises(ValueError):
        split(HOSTS, batch_size=0)


@pytest.mark.parametrize("count, pause, expected", [
    (3, "none", ()),
    (3, "first_batch", (1,)),
    (1, "first_batch", ()),
    (3, "every_batch", (1, 2)),
    (1, "every_batch", ()),
])
def test_pauses_fall_after_batches_but_never_after_the_last(count, pause, expected):
    assert pauses_after(count, pause) == expected


def test_an_unknown_pause_is_refused():
    with pytest.raises(ValueError):
        pauses_after(2, "sometimes")


@dataclass
class Record:
    host: str
    step_run_id: int
    status: str
    batch: int = 1
    detail: dict = field(default_factory=dict)


def test_hosts_that_succeeded_in_an_earlier_attempt_are_skipped_with_a_note():
    earlier = {"web1": Record("web1", 7, "succeeded", detail={"attempt": 1}),
               "web2": Record("web2", 7, "failed"),
               "web3": Record("web3", 7, "queued")}
    assert skipped_hosts(earlier, step_run_id=9) == {"web1": "succeeded in attempt 1"}


def test_a_host_skipped_before_keeps_the_note_of_where_it_succeeded():
    earlier = {"web1": Record("web1", 9, "skipped", detail={"note": "succeeded in attempt 1"})}
    assert skipped_hosts(earlier, step_run_id=11) == {"web1": "succeeded in attempt 1"}


def test_this_step_runs_own_records_are_not_skips():
    earlier = {"web1": Record("web1", 9, "succeeded", detail={"attempt": 2})}
    assert skipped_hosts(earlier, step_run_id=9) == {}


PLAN = [("web1", "web2"), ("web3", "web4"), ("web5",)]


def statuses(**by_host: str) -> dict[str, str]:
    every = {h: "queued" for batch in PLAN for h in batch}
    every.update(by_host)
    return every


def test_a_fresh_deploy_starts_with_the_first_batch():
    assert progress(PLAN, statuses(), "every_batch", 0) == Progress(1, False, None)


def test_a_deploy_waits_after_a_paused_batch_until_it_is_resumed():
    done = statuses(web1="succeeded", web2="succeeded")
    assert progress(PLAN, done, "first_batch", 0) == Progress(2, True, 1)
    assert progress(PLAN, done, "first_batch", 1) == Progress(2, False, None)


def test_every_batch_pauses_after_each_batch_but_the_last():
    two = statuses(web1="succeeded", web2="succeeded", web3="succeeded", web4="succeeded")
    assert progress(PLAN, two, "every_batch", 1) == Progress(3, True, 2)
    assert progress(PLAN, two, "every_batch", 2) == Progress(3, False, None)
    assert progress(PLAN, two, "first_batch", 1) == Progress(3, False, None)


def test_without_pause_a_deploy_never_waits():
    assert progress(PLAN, statuses(web1="succeeded", web2="succeeded"), "none", 0) == \
        Progress(2, False, None)


def test_a_batch_whose_hosts_were_all_skipped_does_not_pause_again():
    retried = statuses(web1="skipped", web2="skipped")
    assert progress(PLAN, retried, "first_batch", 0) == Progress(2, False, None)


def test_a_batch_with_a_host_left_is_the_next_one():
    assert progress(PLAN, statuses(web1="succeeded", web2="failed"), "first_batch", 0) == \
        Progress(1, False, None)


def test_a_deploy_with_every_host_done_has_no_next_batch():
    every = {h: "succeeded" for batch in PLAN for h in batch}
    assert progress(PLAN, every, "every_batch", 0) == Progress(None, False, None)

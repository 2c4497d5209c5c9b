"""The run result enum and its one combinator."""

from __future__ import annotations

from flowplan.executor.status import Status, counted, run_result, worst_of


def test_worst_of_picks_the_most_severe():
    assert worst_of([Status.SUCCEEDED, Status.FAILED, Status.SKIPPED]) == Status.FAILED
    assert worst_of([Status.FAILED, Status.CANCELED]) == Status.CANCELED
    assert worst_of([Status.CANCELED, Status.INTERRUPTED]) == Status.INTERRUPTED
    assert worst_of([Status.SUCCEEDED, Status.WAITING]) == Status.WAITING
    assert worst_of([Status.WAITING, Status.FAILED]) == Status.FAILED
    assert worst_of(["succeeded", "skipped"]) == Status.SUCCEEDED
    assert worst_of([Status.SKIPPED]) == Status.SKIPPED
    assert worst_of([]) == Status.SUCCEEDED


def test_an_allowed_failure_counts_as_succeeded():
    assert counted(Status.FAILED, failure_allowed=True) == Status.SUCCEEDED
    assert counted(Status.FAILED, failure_allowed=False) == Status.FAILED
    assert counted(Status.CANCELED, failure_allowed=True) == Status.CANCELED


def test_a_run_of_skipped_stages_succeeded():
    assert run_result([Status.SKIPPED, Status.SKIPPED]) == Status.SUCCEEDED
    assert run_result([Status.SUCCEEDED, Status.FAILED]) == Status.FAILED


def test_finished_and_passed():
    assert {s for s in Status if s.finished} == {
        Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.SKIPPED, Status.INTERRUPTED}
    assert {s for s in Status if s.passed} == {Status.SUCCEEDED, Status.SKIPPED}

"""readiness as a table: (needs, queued, finished, running, parallelism) → ready and skipped."""

import pytest

from flowplan.executor.run.readiness import Finished, Skip, readiness
from flowplan.executor.status import Status

OK = Finished(Status.SUCCEEDED)
FAILED = Finished(Status.FAILED)
FAILED_ALLOWED = Finished(Status.FAILED, failure_allowed=True)
SKIPPED_UPSTREAM = Finished(Status.SKIPPED, skip_reason="upstream")
SKIPPED_REJECTED = Finished(Status.SKIPPED, skip_reason="rejected")
SKIPPED_ON_PURPOSE = Finished(Status.SKIPPED)
CANCELED = Finished(Status.CANCELED)

CASES = [
    # id, needs, queued, finished, running, parallelism, ready, skipped
    ("no_needs_all_ready_in_queue_order", {"a": [], "b": [], "c": []}, ["a", "b", "c"], {}, 0, 4,
     ("a", "b", "c"), ()),
    ("nothing_queued_nothing_to_do", {"a": []}, [], {"a": OK}, 0, 4, (), ()),
    ("needs_satisfied", {"a": [], "b": ["a"]}, ["b"], {"a": OK}, 0, 4, ("b",), ()),
    ("needs_pending_waits", {"a": [], "b": ["a"]}, ["a", "b"], {}, 0, 4, ("a",), ()),
    ("needs_running_waits", {"a": [], "b": ["a"]}, ["b"], {}, 1, 4, (), ()),
    ("needs_failed_skips_with_the_failed_need", {"a": [], "b": ["a"]}, ["b"], {"a": FAILED},
     0, 4, (), (Skip("b", ("a",)),)),
    ("needs_canceled_skips", {"a": [], "b": ["a"]}, ["b"], {"a": CANCELED}, 0, 4,
     (), (Skip("b", ("a",)),)),
    ("only_the_needs_that_did_not_pass_are_named",
     {"a": [], "b": [], "c": [], "d": ["a", "b", "c"]}, ["d"],
     {"a": FAILED, "b": OK, "c": CANCELED}, 0, 4, (), (Skip("d", ("a", "c")),)),
    ("failed_need_skips_even_while_another_need_is_pending", {"a": [], "b": [], "c": ["a", "b"]},
     ["b", "c"], {"a": FAILED}, 0, 4, ("b",), (Skip("c", ("a",)),)),
    ("failure_allowed_counts_as_passed", {"a": [], "b": ["a"]}, ["b"], {"a": FAILED_ALLOWED},
     0, 4, ("b",), ()),
    ("skipped_on_purpose_counts_as_passed", {"a": [], "b": ["a"]}, ["b"],
     {"a": SKIPPED_ON_PURPOSE}, 0, 4, ("b",), ()),
    ("upstream_skipped_counts_as_not_passed", {"a": [], "b": ["a"]}, ["b"],
     {"a": SKIPPED_UPSTREAM}, 0, 4, (), (Skip("b", ("a",)),)),
    ("rejected_counts_as_not_passed", {"a": [], "b": ["a"]}, ["b"], {"a": SKIPPED_REJECTED},
     0, 4, (), (Skip("b", ("a",)),)),
    ("parallelism_limit_counts_running_tasks", {"a": [], "b": [], "c": [], "d": []},
     ["b", "c", "d"], {}, 1, 3, ("b", "c"), ()),
    ("parallelism_full_starts_nothing", {"a": [], "b": []}, ["b"], {}, 2, 2, (), ()),
    ("parallelism_full_still_skips", {"a": [], "b": ["a"], "c": []}, ["b"], {"a": FAILED}, 2, 2,
     (), (Skip("b", ("a",)),)),
    ("ready_are_taken_in_queue_order_up_to_the_limit", {"a": [], "b": ["a"], "c": [], "d": []},
     ["b", "c", "d"], {}, 0, 1, ("c",), ()),
    ("chain_starts_with_its_head", {"a": [], "b": ["a"], "c": ["b"]}, ["a", "b", "c"], {}, 0, 4,
     ("a",), ()),
    ("chain_moves_on_when_head_passed", {"a": [], "b": ["a"], "c": ["b"]}, ["b", "c"],
     {"a": OK}, 0, 4, ("b",), ()),
    ("chain_skips_all_the_way_down_when_head_failed", {"a": [], "b": ["a"], "c": ["b"]},
     ["b", "c"], {"a": FAILED}, 0, 4, (), (Skip("b", ("a",)), Skip("c", ("b",)))),
    ("chain_skips_down_whatever_the_queue_order", {"a": [], "b": ["a"], "c": ["b"]},
     ["c", "b"], {"a": FAILED}, 0, 4, (), (Skip("b", ("a",)), Skip("c", ("b",)))),
    ("need_of_another_stage_is_not_waited_for", {"b": ["build"]}, ["b"], {}, 0, 4, ("b",), ()),
    ("need_of_another_stage_is_not_waited_for_even_when_it_failed", {"b": ["build"]}, ["b"],
     {"build": FAILED}, 0, 4, ("b",), ()),
]


@pytest.mark.parametrize(
    "needs, queued, finished, running, parallelism, ready, skipped",
    [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_readiness(needs, queued, finished, running, parallelism, ready, skipped):
    decided = readiness(needs, queued, finished, running, parallelism)
    assert decided.ready == ready
    assert decided.skipped == skipped


def test_skip_error_names_the_needs_that_did_not_pass():
    assert Skip("deploy", ("build", "test")).error == \
        "not run: it needs build, test, which did not pass"


def test_readiness_leaves_its_arguments_alone():
    queued, finished = ["b", "c"], {"a": FAILED}
    readiness({"a": [], "b": ["a"], "c": []}, queued, finished, 0, 4)
    assert queued == ["b", "c"] and finished == {"a": FAILED}

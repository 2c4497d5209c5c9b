"""Webhook deliveries in the store: recorded with their outcome and run, a redelivery refused by
the database's unique constraint (even 50 copies at once), a refused delivery letting go of its
id, a bounded newest-first list, and the schema step from the version before it."""

from __future__ import annotations

import threading

import pytest

from flowplan.store import DeliveryRedelivered, Store

from test_store_migrations import make_version_2_store, recorded_version, shape, upto

DELIVERIES_VERSION = 7      # revision 0007 adds the deliveries table


@pytest.fixture
def store(store_url):
    with Store.open(store_url) as opened:
        yield opened


def a_run(store: Store, pipeline: str = "ci"):
    return store.create_run(pipeline, trigger="webhook", user="github:octocat",
                            definition={"stages": {}}, tasks=[])


def test_accepted_delivery_is_recorded_with_the_run_it_started(store):
    claimed = store.record_delivery("push", outcome="accepted", status=202, reason="push to main",
                                    sender="github", event="push", delivery_id="d-1", once=True)
    assert claimed.run is None
    run = a_run(store)
    done = store.finish_delivery(claimed.id, run_id=run.id)
    assert (done.webhook, done.sender, done.event, done.delivery_id, done.outcome, done.status,
            done.reason, done.run) == ("push", "github", "push", "d-1", "accepted", 202,
                                       "push to main", "ci#1")
    assert done.received_at.tzinfo is not None


def test_redelivery_of_an_accepted_or_ignored_id_is_refused_with_the_first_record(store):
    first = store.record_delivery("push", outcome="accepted", status=202, delivery_id="d-1",
                                  once=True)
    store.finish_delivery(first.id, run_id=a_run(store).id)
    ignored = store.record_delivery("push", outcome="ignored", status=202, delivery_id="d-2",
                                    reason="branch 'dev' matches none of main", once=True)
    with pytest.raises(DeliveryRedelivered) as again:
        store.record_delivery("push", outcome="accepted", status=202, delivery_id="d-1",
                              once=True)
    assert again.value.original.run == "ci#1"
    with pytest.raises(DeliveryRedelivered) as again_ignored:
        store.record_delivery("push", outcome="ignored", status=202, delivery_id="d-2",
                              once=True)
    assert again_ignored.value.original.id == ignored.id
    # the same id for another webhook is another delivery
    other = store.record_delivery("nightly", outcome="accepted", status=202, delivery_id="d-1",
                                  once=True)
    assert other.webhook == "nightly"


def test_rejected_and_duplicate_deliveries_never_hold_the_id(store):
    for _ in range(3):
        store.record_delivery("push", outcome="rejected", status=401, delivery_id="d-1",
                              reason="X-Hub-Signature-256 does not match the body")
    store.record_delivery("push", outcome="accepted", status=202, delivery_id="d-1", once=True)
    store.record_delivery("push", outcome="duplicate", status=202, delivery_id="d-1")
    assert [d.outcome for d in store.list_deliveries("push")] == [
        "duplicate", "accepted", "rejected", "rejected", "rejected"]


def test_refused_delivery_lets_go_of_its_id_so_a_redelivery_may_start_a_run(store):
    claimed = store.record_delivery("push", outcome="accepted", status=202, delivery_id="d-1",
                                    once=True)
    store.finish_delivery(claimed.id, outcome="refused", status=503,
                          reason="ci already has 1 running run (on_limit = reject_new)")
    again = store.record_delivery("push", outcome="accepted", status=202, delivery_id="d-1",
                                  once=True)
    assert again.id != claimed.id
    assert store.get_delivery(claimed.id).outcome == "refused"


def test_fifty_identical_deliveries_at_once_are_claimed_exactly_once(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        barrier = threading.Barrier(50)
        claimed, refused, errors = [], [], []

        def deliver() -> None:
            barrier.wait()
            try:
                claimed.append(store.record_delivery("push", outcome="accepted", status=202,
                                                     delivery_id="same", once=True))
            except DeliveryRedelivered as exc:
                refused.append(exc.original.id)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=deliver) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(claimed) == 1 and len(refused) == 49
        assert set(refused) == {claimed[0].id}


def test_list_is_newest_first_bounded_and_filtered_by_webhook(store):
    for n in range(7):
        store.record_delivery("a" if n % 2 else "b", outcome="ping", status=200,
                              delivery_id=f"d-{n}")
    assert [d.delivery_id for d in store.list_deliveries(limit=3)] == ["d-6", "d-5", "d-4"]
    assert [d.delivery_id for d in store.list_deliveries("a")] == ["d-5", "d-3", "d-1"]
    assert len(store.list_deliveries(limit=10**9)) == 7
    assert store.list_deliveries(limit=-5) == []


def test_over_long_header_values_are_cut_to_their_columns(store):
    record = store.record_delivery("push", outcome="malformed", status=400, event="e" * 5000,
                                   sender="s" * 100, delivery_id="d" * 1000)
    assert (len(record.event), len(record.sender), len(record.delivery_id)) == (64, 16, 255)


def test_unknown_outcome_is_a_bug(store):
    with pytest.raises(ValueError):
        store.record_delivery("push", outcome="maybe", status=202)


def test_run_deleted_later_leaves_the_delivery_without_a_run(store):
    claimed = store.record_delivery("push", outcome="accepted", status=202, delivery_id="d",
                                    once=True)
    run = a_run(store)
    store.finish_delivery(claimed.id, run_id=run.id)
    from sqlalchemy import delete

    from flowplan.store.schema import Run
    with store._write_engine.begin() as connection:
        connection.execute(delete(Run.__table__).where(Run.__table__.c.id == run.id))
    assert store.get_delivery(claimed.id).run is None


def test_store_at_the_version_before_gets_the_deliveries_table_and_keeps_its_runs(tmp_path):
    make_version_2_store(tmp_path / "old.db")
    before = DELIVERIES_VERSION - 1
    Store.open(f"sqlite:///{tmp_path / 'old.db'}", revisions=upto(before)).close()
    assert recorded_version(tmp_path / "old.db") == before
    assert "deliveries" not in shape(tmp_path / "old.db")
    Store.open("sqlite:///old.db", base_dir=tmp_path,
               revisions=upto(DELIVERIES_VERSION)).close()
    assert "deliveries" in shape(tmp_path / "old.db")
    with Store.open("sqlite:///old.db", base_dir=tmp_path) as store:   # today's code: latest
        run = store.find_run("app", 1)
        claimed = store.record_delivery("push", outcome="accepted", status=202,
                                        delivery_id="d-1", once=True)
        store.finish_delivery(claimed.id, run_id=run.id)
        assert store.list_deliveries()[0].run == "app#1"
        with pytest.raises(DeliveryRedelivered):
            store.record_delivery("push", outcome="accepted", status=202, delivery_id="d-1",
                                  once=True)
    Store.open("sqlite:///fresh.db", base_dir=tmp_path).close()
    assert shape(tmp_path / "old.db") == shape(tmp_path / "fresh.db")


# -- many at once -----------------------------------------------------------------------------

def run_request(pipeline: str = "ci", user: str = "github:octocat") -> dict:
    from flowplan.store import StepPlan, TaskPlan

    return dict(pipeline=pipeline, trigger="webhook", user=user, branch="main",
                commit="a" * 40, definition={"stages": {"s": {}}},
                tasks=[TaskPlan("s", 0, "t", 0, (StepPlan("x", "command", 0),
                                                 StepPlan("y", "command", 1)))],
                variables={}, options={"definition": "applied"}, pid=4242, host="h",
                pid_start_time=7, boot_id="b")


def claim(delivery_id: str, webhook: str = "push"):
    from flowplan.store import DeliveryClaim

    return DeliveryClaim(webhook, delivery_id, "github", "push", "push to main")


def test_many_deliveries_are_claimed_and_their_runs_recorded_in_one_call(store):
    a_run(store)                                       # ci#1 exists: numbering goes on
    results = store.accept_deliveries([(claim("d-1"), run_request()),
                                       (claim("d-2"), run_request()),
                                       (None, run_request("other", user=None)),
                                       (claim("d-1", "nightly"), run_request())])
    assert [r.ref for r in results] == ["ci#2", "ci#3", "other#1", "ci#4"]
    run = results[0]
    assert (run.status, run.trigger, run.user, run.branch, run.pid, run.options) == (
        "queued", "webhook", "github:octocat", "main", 4242, {"definition": "applied"})
    assert [(t.stage, t.task, t.status) for t in store.task_runs(run.id)] == [
        ("s", "t", "queued")]
    assert [(s.step, s.status, s.attempt) for s in store.step_runs(run.id)] == [
        ("x", "queued", 1), ("y", "queued", 1)]
    deliveries = {d.delivery_id + "@" + d.webhook: d for d in store.list_deliveries()}
    assert deliveries["d-1@push"].run == "ci#2" and deliveries["d-1@nightly"].run == "ci#4"
    assert deliveries["d-2@push"].outcome == "accepted"


def test_redeliveries_in_and_across_batches_create_nothing(store):
    [first] = store.accept_deliveries([(claim("d-1"), run_request())])
    results = store.accept_deliveries([(claim("d-1"), run_request()),
                                       (claim("d-2"), run_request()),
                                       (claim("d-2"), run_request())])
    earlier, new, copy = results
    assert (earlier.delivery_id, earlier.run) == ("d-1", first.ref)
    assert new.ref == "ci#2" and (copy.delivery_id, copy.run) == ("d-2", "ci#2")
    assert [r.ref for r in store.list_runs("ci")] == ["ci#2", "ci#1"]
    with pytest.raises(DeliveryRedelivered):
        store.record_delivery("push", outcome="accepted", status=202, delivery_id="d-2",
                              once=True)


def test_a_batch_of_runs_refuses_values_that_are_not_json(store):
    from flowplan.values import Sensitive

    bad = {**run_request(), "variables": {"token": Sensitive("x")}}
    with pytest.raises(ValueError):
        store.accept_deliveries([(claim("d-1"), bad)])
    assert store.list_runs() == [] and store.list_deliveries() == []

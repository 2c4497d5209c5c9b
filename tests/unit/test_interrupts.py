"""flowplan.interrupts: an interrupt inside deferred() waits for the end of the block, and a
walk interrupted while it hands work to its pool still ends (the hang it fixes: a lock left
taken inside the pool's code)."""

from __future__ import annotations

import threading
import time

import pytest

from flowplan import interrupts
from flowplan.graph import Graph


def test_an_interrupt_inside_deferred_is_raised_at_the_end_of_the_outermost_block():
    reached = []
    with pytest.raises(KeyboardInterrupt, match="first"):
        with interrupts.deferred():
            with interrupts.deferred():
                interrupts.raise_or_keep(KeyboardInterrupt("first"))
                reached.append("inner")
            reached.append("outer")
    assert reached == ["inner", "outer"]


def test_a_second_interrupt_while_one_is_kept_raises_at_once():
    with pytest.raises(KeyboardInterrupt, match="second"):
        with interrupts.deferred():
            interrupts.raise_or_keep(KeyboardInterrupt("first"))
            interrupts.raise_or_keep(KeyboardInterrupt("second"))
    # the kept one is gone with the block: a new block starts clean
    with interrupts.deferred():
        pass


def test_outside_deferred_an_interrupt_raises_at_once():
    with pytest.raises(KeyboardInterrupt):
        interrupts.raise_or_keep(KeyboardInterrupt("now"))


def _chain(count: int) -> Graph:
    graph = Graph()
    for index in range(count):
        graph.add_node(f"n{index}")
    return graph


def test_a_walk_interrupted_while_handing_out_work_finishes_what_runs_and_returns():
    graph = _chain(40)
    started = []

    def work(node: str) -> None:
        started.append(node)
        time.sleep(0.01)

    # the interrupt arrives while the walk is handing nodes to the pool (inside deferred())
    original_emit_calls = []

    def on_event(event) -> None:
        original_emit_calls.append(event)
        if len(original_emit_calls) == 3:
            interrupts.raise_or_keep(KeyboardInterrupt("Ctrl-C"))

    done = threading.Event()
    with pytest.raises(KeyboardInterrupt):
        try:
            graph.walk(work, parallelism=4, on_event=on_event)
        finally:
            done.set()
    assert done.is_set()
    assert 0 < len(started) < 40
    assert not [t for t in threading.enumerate() if t.name.startswith("flowplan-walk")]

"""The dependency graph: order, cycles, parallel walks that stop at failures, DOT."""

from __future__ import annotations

import threading
import time

import pytest

from flowplan.graph import CycleError, Graph, WalkEvent, WalkResult


def graph_of(*edges: tuple[str, str], nodes: tuple[str, ...] = ()) -> Graph:
    graph = Graph()
    for node in nodes:
        graph.add_node(node)
    for from_address, to_address in edges:
        graph.add_edge(from_address, to_address)
    return graph


def pipeline_graph() -> Graph:
    # webhook and schedule need the pipeline; the pipeline needs the repository and the group;
    # the repository needs the namespace.
    return graph_of(
        ("webhook.push", "pipeline.java_ecs"),
        ("schedule.nightly", "pipeline.java_ecs"),
        ("pipeline.java_ecs", "acr_repository.app"),
        ("pipeline.java_ecs", "deployment_group.daily"),
        ("acr_repository.app", "acr_namespace.team"),
    )


def test_nodes_dependencies_and_dependents_are_sorted():
    graph = pipeline_graph()
    assert graph.nodes == sorted(graph.nodes) and len(graph.nodes) == 6
    assert graph.dependencies("pipeline.java_ecs") == ["acr_repository.app", "deployment_group.daily"]
    assert graph.dependents("pipeline.java_ecs") == ["schedule.nightly", "webhook.push"]
    assert graph.dependencies("acr_namespace.team") == []


def test_topological_order_puts_dependencies_first_with_ties_by_name():
    assert pipeline_graph().topological_order() == [
        "acr_namespace.team", "acr_repository.app", "deployment_group.daily",
        "pipeline.java_ecs", "schedule.nightly", "webhook.push"]


def test_reverse_topological_order_puts_dependents_first():
    assert pipeline_graph().topological_order(reverse=True) == [
        "schedule.nightly", "webhook.push", "pipeline.java_ecs", "acr_repository.app",
        "acr_namespace.team", "deployment_group.daily"]


def test_cycles_name_every_member_in_cycle_order():
    graph = graph_of(("c", "a"), ("a", "b"), ("b", "c"),         # a -> b -> c -> a
                     ("y", "x"), ("x", "y"),                     # x -> y -> x
                     ("z", "z"),                                 # z depends on itself
                     ("d", "a"), ("x", "e"))                     # attached, not in a cycle
    assert graph.cycles() == [["a", "b", "c"], ["x", "y"], ["z"]]
    with pytest.raises(CycleError, match="a -> b -> c -> a") as caught:
        graph.topological_order()
    assert caught.value.cycles == graph.cycles()


def test_acyclic_graph_has_no_cycles():
    assert pipeline_graph().cycles() == []


def test_walk_refuses_a_cyclic_graph_before_calling_anything():
    called = []
    with pytest.raises(CycleError):
        graph_of(("a", "b"), ("b", "a"), nodes=("c",)).walk(called.append)
    assert called == []


def test_walk_calls_each_node_after_its_dependencies():
    graph = pipeline_graph()
    finished: list[str] = []
    lock = threading.Lock()

    def provision(address: str):
        with lock:
            assert all(dep in finished for dep in graph.dependencies(address)), address
        time.sleep(0.005)
        with lock:
            finished.append(address)

    results = graph.walk(provision, parallelism=4)
    assert results == {node: WalkResult("ok") for node in graph.nodes}
    assert sorted(finished) == graph.nodes


def test_parallel_walk_runs_independent_nodes_at_the_same_time():
    graph = graph_of(nodes=("a", "b", "c"))
    barrier = threading.Barrier(3, timeout=5)    # breaks unless all three are inside fn at once
    results = graph.walk(lambda address: barrier.wait(), parallelism=3)
    assert all(result.status == "ok" for result in results.values()), results


def test_walk_never_runs_more_than_parallelism_at_once():
    graph = graph_of(nodes=tuple(f"n{i:02}" for i in range(24)))
    lock = threading.Lock()
    running = 0
    most = 0

    def provision(address: str):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1

    results = graph.walk(provision, parallelism=4)
    assert len(results) == 24
    assert most == 4


def test_failure_skips_dependents_but_not_unrelated_nodes():
    graph = pipeline_graph()
    called: list[str] = []
    failure = RuntimeError("namespace quota exceeded")

    def provision(address: str):
        called.append(address)
        if address == "acr_namespace.team":
            raise failure

    events: list[WalkEvent] = []
    results = graph.walk(provision, parallelism=2, on_event=events.append)
    assert results["acr_namespace.team"] == WalkResult("failed", error=failure)
    for skipped in ("acr_repository.app", "pipeline.java_ecs", "webhook.push", "schedule.nightly"):
        assert results[skipped] == WalkResult("skipped", blocked_by="acr_namespace.team")
        assert skipped not in called
    assert results["deployment_group.daily"] == WalkResult("ok")
    assert sorted(called) == ["acr_namespace.team", "deployment_group.daily"]
    assert [(e.address, e.status) for e in events if e.address == "acr_namespace.team"] == [
        ("acr_namespace.team", "started"), ("acr_namespace.team", "failed")]
    assert {e.address for e in events if e.status == "skipped"} == {
        "acr_repository.app", "pipeline.java_ecs", "webhook.push", "schedule.nightly"}


def test_reverse_walk_calls_dependents_first():
    graph = graph_of(("app", "repo"), ("repo", "namespace"))
    order: list[str] = []
    graph.walk(order.append, parallelism=1)
    assert order == ["namespace", "repo", "app"]
    order.clear()
    graph.walk(order.append, parallelism=4, reverse=True)
    assert order == ["app", "repo", "namespace"]


def test_reverse_walk_failure_skips_what_it_depends_on():
    graph = graph_of(("app", "repo"), ("repo", "namespace"), nodes=("other",))

    def destroy(address: str):
        if address == "app":
            raise RuntimeError("still in use")

    results = graph.walk(destroy, reverse=True)
    assert results["app"].status == "failed"
    assert results["repo"] == WalkResult("skipped", blocked_by="app")
    assert results["namespace"] == WalkResult("skipped", blocked_by="app")
    assert results["other"] == WalkResult("ok")


def test_dot_output_is_deterministic_with_quoted_names():
    graph = graph_of(("b.two", "a.one"), ("c", 'a "quoted"'))
    assert graph.to_dot() == (
        'digraph {\n'
        '  "a \\"quoted\\"";\n'
        '  "a.one";\n'
        '  "b.two";\n'
        '  "c";\n'
        '  "b.two" -> "a.one";\n'
        '  "c" -> "a \\"quoted\\"";\n'
        '}\n')


def test_ten_thousand_node_chain_is_handled_quickly_without_recursion():
    graph = Graph()
    count = 10_000
    for i in range(1, count):
        graph.add_edge(f"n{i:05}", f"n{i - 1:05}")
    started = time.perf_counter()
    assert graph.cycles() == []
    assert graph.topological_order() == [f"n{i:05}" for i in range(count)]
    results = graph.walk(lambda address: None, parallelism=10)
    assert len(results) == count and all(r.status == "ok" for r in results.values())
    assert time.perf_counter() - started < 10

    graph.add_edge("n00000", f"n{count - 1:05}")     # close the chain into one ring
    # n00000 -> n09999 -> n09998 -> ... -> n00001 -> n00000
    assert graph.cycles() == [["n00000"] + [f"n{i:05}" for i in range(count - 1, 0, -1)]]


def test_ten_thousand_node_fan_out_is_handled_quickly():
    graph = Graph()
    count = 10_000
    for i in range(count):
        graph.add_edge(f"leaf{i:05}", "root")
    started = time.perf_counter()
    assert graph.cycles() == []
    order = graph.topological_order()
    assert order[0] == "root" and len(order) == count + 1
    results = graph.walk(lambda address: None, parallelism=10)
    assert len(results) == count + 1 and all(r.status == "ok" for r in results.values())
    failed_root = graph.walk(lambda address: 1 / 0 if address == "root" else None)
    assert sum(r.status == "skipped" for r in failed_root.values()) == count
    assert time.perf_counter() - started < 10

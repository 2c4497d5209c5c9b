"""The dependency graph of addresses, and walking it in dependency order with bounded parallelism.

Holds `Graph`: nodes are addresses ("acr_repository.app"), an edge from A to B means A depends on B.
It finds every cycle (iterative Tarjan, linear time), orders nodes (Kahn, ties by name), walks them
on a thread pool so each node starts only after what it depends on succeeded (or, reversed for
destroy, after what depends on it), and renders Graphviz DOT.

It leaves building the graph from config references, and turning cycles into diagnostics, to the
config and plan code, and what a node's work is to the function handed to `walk`. Nothing here
prints: progress goes out through the `on_event` hook.
"""

from __future__ import annotations

import heapq
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Literal

from flowplan.interrupts import deferred

WalkStatus = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class WalkResult:
    """How one node's walk ended: ok, failed (with the error), or skipped (with the upstream failure)."""

    status: WalkStatus
    error: BaseException | None = None
    blocked_by: str | None = None      # for "skipped": the failed address that kept it from running


@dataclass(frozen=True, slots=True)
class WalkEvent:
    """Progress of a walk, for views: a node "started", or ended "ok", "failed" or "skipped"."""

    address: str
    status: Literal["started", "ok", "failed", "skipped"]
    error: BaseException | None = None
    blocked_by: str | None = None


class CycleError(Exception):
    """The graph has cycles, so it has no order. Config code reports `cycles()` as diagnostics first."""

    def __init__(self, cycles: list[list[str]]):
        self.cycles = cycles
        super().__init__("dependency cycle: " + "; ".join(" -> ".join(c + c[:1]) for c in cycles))


class Graph:
    """Addresses and what each depends on."""

    def __init__(self) -> None:
        # Dicts used as ordered sets: adding twice is harmless.
        self._dependencies: dict[str, dict[str, None]] = {}
        self._dependents: dict[str, dict[str, None]] = {}

    def add_node(self, address: str) -> None:
        if address not in self._dependencies:
            self._dependencies[address] = {}
            self._dependents[address] = {}

    def add_edge(self, from_address: str, to_address: str) -> None:
        """Record that `from_address` depends on `to_address`; adds missing nodes."""
        self.add_node(from_address)
        self.add_node(to_address)
        self._dependencies[from_address][to_address] = None
        self._dependents[to_address][from_address] = None

    @property
    def nodes(self) -> list[str]:
        """Every address, sorted."""
        return sorted(self._dependencies)

    def dependencies(self, address: str) -> list[str]:
        """What `address` depends on, sorted."""
        return sorted(self._dependencies[address])

    def dependents(self, address: str) -> list[str]:
        """What depends on `address`, sorted."""
        return sorted(self._dependents[address])

    def __contains__(self, address: object) -> bool:
        return address in self._dependencies

    def __len__(self) -> int:
        return len(self._dependencies)

    # -- cycles -----------------------------------------------------------------------------------

    def cycles(self) -> list[list[str]]:
        """Every cycle: each strongly connected component of more than one node, and each node that
        depends on itself (and on no larger cycle).

        Each cycle lists all its members in cycle order, starting at its smallest address and
        following dependency edges (smallest first), so for a ring a -> b -> c -> a it is
        ["a", "b", "c"]. Cycles are sorted by their first address. Linear in nodes plus edges
        (after sorting the adjacency for determinism); no recursion.
        """
        adjacency = {node: sorted(deps) for node, deps in self._dependencies.items()}
        components = _strongly_connected_components(sorted(adjacency), adjacency)
        found: list[list[str]] = []
        for component in components:
            if len(component) > 1:
                found.append(_cycle_order(component, adjacency))
            elif component[0] in self._dependencies[component[0]]:
                found.append([component[0]])
        found.sort(key=lambda cycle: cycle[0])
        return found

    # -- order ------------------------------------------------------------------------------------

    def topological_order(self, reverse: bool = False) -> list[str]:
        """Every address after all it depends on (reverse=True: after all that depends on it, the
        destroy order). Among nodes that are ready together, the smallest name comes first.
        Raises CycleError when there is a cycle.
        """
        upstream, downstream = self._directions(reverse)
        waiting = {node: len(deps) for node, deps in upstream.items()}
        ready = [node for node, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            node = heapq.heappop(ready)
            order.append(node)
            for later in downstream[node]:
                waiting[later] -= 1
                if waiting[later] == 0:
                    heapq.heappush(ready, later)
        if len(order) != len(upstream):
            raise CycleError(self.cycles())
        return order

    def _directions(self, reverse: bool):
        """(what each node waits for, what waits for each node) for a walk in this direction."""
        if reverse:
            return self._dependents, self._dependencies
        return self._dependencies, self._dependents

    # -- walk -------------------------------------------------------------------------------------

    def walk(self, fn: Callable[[str], object], parallelism: int = 10, reverse: bool = False,
             on_event: Callable[[WalkEvent], None] | None = None) -> dict[str, WalkResult]:
        """Call `fn(address)` for every node, each once all it depends on finished ok.

        reverse=True waits instead for all that depends on the node (destroy). At most
        `parallelism` calls run at once, on a thread pool. An exception from `fn` marks that node
        "failed" and is kept in its result, not raised; every node downstream of it is "skipped"
        with `blocked_by` naming the failed address, and is never called. Unrelated nodes go on.
        `on_event` is called from the calling thread, in order, as nodes start and end. Raises
        CycleError (before calling anything) when there is a cycle.
        """
        if parallelism < 1:
            raise ValueError(f"parallelism must be at least 1, not {parallelism}")
        cycles = self.cycles()
        if cycles:
            raise CycleError(cycles)
        upstream, downstream = self._directions(reverse)
        emit = on_event if on_event is not None else (lambda event: None)
        results: dict[str, WalkResult] = {}
        waiting = {node: len(deps) for node, deps in upstream.items()}
        ready = [node for node, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        finished: queue.SimpleQueue[tuple[str, BaseException | None]] = queue.SimpleQueue()
        running = 0

        def skip_downstream(failed: str) -> None:
            stack = list(downstream[failed])
            while stack:
                node = stack.pop()
                if node in results:
                    continue
                results[node] = WalkResult("skipped", blocked_by=failed)
                emit(WalkEvent(node, "skipped", blocked_by=failed))
                stack.extend(downstream[node])

        def call(node: str) -> None:       # in a worker thread
            try:
                fn(node)
            except BaseException as error:  # noqa: BLE001 - kept in the node's result
                finished.put((node, error))
            else:
                finished.put((node, None))

        # Ctrl-C (KeyboardInterrupt) may end the walk while it waits for a node; anywhere else in
        # the pool's code it could leave a lock taken, so it waits for the end of those blocks
        # (flowplan.interrupts). Leaving, the pool lets the nodes in flight finish.
        with deferred():
            pool = ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="flowplan-walk")
        try:
            while ready or running:
                with deferred():
                    while ready and running < parallelism:
                        node = heapq.heappop(ready)
                        emit(WalkEvent(node, "started"))
                        pool.submit(call, node)
                        running += 1
                node, error = finished.get()
                with deferred():
                    running -= 1
                    if error is not None:
                        results[node] = WalkResult("failed", error=error)
                        emit(WalkEvent(node, "failed", error=error))
                        skip_downstream(node)
                        continue
                    results[node] = WalkResult("ok")
                    emit(WalkEvent(node, "ok"))
                    for later in downstream[node]:
                        waiting[later] -= 1
                        if waiting[later] == 0 and later not in results:
                            heapq.heappush(ready, later)
        finally:
            with deferred():
                pool.shutdown(wait=True)
        return results

    # -- rendering --------------------------------------------------------------------------------

    def to_dot(self) -> str:
        """Graphviz DOT: every node, then every edge (from the dependent to its dependency), sorted."""
        lines = ["digraph {"]
        for node in self.nodes:
            lines.append(f"  {_dot_id(node)};")
        for node in self.nodes:
            for dependency in self.dependencies(node):
                lines.append(f"  {_dot_id(node)} -> {_dot_id(dependency)};")
        lines.append("}")
        return "\n".join(lines) + "\n"


def _dot_id(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _strongly_connected_components(nodes: list[str],
                                   adjacency: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm with an explicit stack, so depth is not bounded by Python's recursion."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        index[root] = lowlink[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(adjacency[root]))]        # the DFS path, each with its next edges
        while work:
            node, edges = work[-1]
            descended = False
            for next_node in edges:
                if next_node not in index:
                    index[next_node] = lowlink[next_node] = counter
                    counter += 1
                    stack.append(next_node)
                    on_stack.add(next_node)
                    work.append((next_node, iter(adjacency[next_node])))
                    descended = True
                    break
                if next_node in on_stack:
                    lowlink[node] = min(lowlink[node], index[next_node])
            if descended:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[node])
            if lowlink[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def _cycle_order(component: list[str], adjacency: dict[str, list[str]]) -> list[str]:
    """The members of a strongly connected component in the order a depth-first walk along
    dependency edges meets them, from the smallest: exactly the ring order for a simple cycle."""
    members = set(component)
    start = min(component)
    order = [start]
    seen = {start}
    work = [iter(adjacency[start])]
    while work:
        for next_node in work[-1]:
            if next_node in members and next_node not in seen:
                seen.add(next_node)
                order.append(next_node)
                work.append(iter(adjacency[next_node]))
                break
        else:
            work.pop()
    return order

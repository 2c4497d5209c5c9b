"""The dependency graph through the CLI: `graph` as DOT (and a cycle as exit 1 with the
diagnostic), and `--parallelism` reaching apply.

Dependencies in plan and apply, `depends_on` and reference cycles are tested in-process in
tests/unit/engine/test_engine_dependencies.py. Concurrency is read from the recorder's log: each
apply writes `apply_start` before and `apply` after its (slowed down) work, with timestamps.
"""

from __future__ import annotations

import re

from cli_workspace import assert_ok
from configs import REFERENCE_CYCLE, REGISTRY_AND_PIPELINE
from in_flight import most_at_once


def test_graph_prints_dot_with_an_edge_per_reference(workspace, run_flowplan):
    workspace.write(REGISTRY_AND_PIPELINE)
    dot = assert_ok(run_flowplan("graph")).stdout
    lines = [line.strip() for line in dot.strip().splitlines()]
    assert lines[0] == "digraph {" and lines[-1] == "}"
    for address in ["acr_namespace.team", "acr_repository.app", "pipeline.app",
                    "schedule.nightly", "webhook.push"]:
        assert f'"{address}";' in lines
    edges = sorted(line for line in lines if "->" in line)
    assert edges == ['"acr_repository.app" -> "acr_namespace.team";',
                     '"schedule.nightly" -> "pipeline.app";',
                     '"webhook.push" -> "pipeline.app";']
    assert not workspace.state_path.exists(), "graph must not write state"

    workspace.write(REFERENCE_CYCLE)
    cycle = run_flowplan("graph")
    assert cycle.code == 1, str(cycle)
    assert re.search(r"main\.hcl:\d+:\d+: error: Reference cycle", cycle.stderr), str(cycle)
    assert cycle.stdout == ""


SIX = "".join(f"""
    acr_namespace "ns{i}" {{
      instance_id = "cri-{i}"
      name        = "ns{i}"
    }}
""" for i in range(1, 7))


def most_in_flight(calls: list[dict]) -> int:
    """The largest number of applies running at once, from the recorder's start/end records."""
    return most_at_once([c["time"] for c in calls if c["method"] == "apply_start"],
                        [c["time"] for c in calls if c["method"] == "apply"])


def test_parallelism_option_limits_how_many_resources_apply_at_once(workspace, run_flowplan):
    workspace.write(SIX)
    slow = {"FLOWPLAN_RECORDER_APPLY_DELAY": "0.3"}
    assert_ok(run_flowplan("apply", "--auto-approve", env=slow))        # default: 10
    assert most_in_flight(workspace.calls()) == 6

    workspace.clear_calls()
    replace_all = [arg for i in range(1, 7) for arg in ("--replace", f"acr_namespace.ns{i}")]
    assert_ok(run_flowplan("apply", "--auto-approve", "--parallelism", "2", *replace_all,
                           env=slow))
    assert len(workspace.calls("apply")) == 12
    assert most_in_flight(workspace.calls()) == 2

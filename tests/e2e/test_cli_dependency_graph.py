"""The dependency graph through the CLI: `graph` as DOT, cycles as diagnostics naming every
member, and apply running independent resources in parallel up to `--parallelism`.

Concurrency is read from the recorder's log: each apply writes `apply_start` before and `apply`
after its (slowed down) work, with timestamps.
"""

from __future__ import annotations

import re

from cli_workspace import assert_ok

CONFIG = """
    pipeline "app" {
      stage "build" {
        task "package" {
          step "mvn" {
            type = "command"
            run  = "mvn -B package"
          }
        }
      }
    }

    schedule "nightly" {
      pipeline = pipeline.app
      cron     = "0 2 * * *"
    }

    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app"
    }

    webhook "push" {
      pipeline = pipeline.app
    }
"""


def test_graph_prints_dot_with_an_edge_per_reference(workspace, run_flowplan):
    workspace.write(CONFIG)
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


def test_apply_follows_a_depends_on_list(workspace, run_flowplan):
    workspace.write(CONFIG.replace("      pipeline = pipeline.app\n    }",
                                   "      pipeline   = pipeline.app\n"
                                   "      depends_on = [acr_repository.app]\n    }"))
    dot = assert_ok(run_flowplan("graph")).stdout
    assert '"webhook.push" -> "acr_repository.app";' in dot
    assert_ok(run_flowplan("apply", "--auto-approve"))
    calls = [(c["method"], f'{c["type"]}.{c["name"]}') for c in workspace.calls()
             if c["method"] in ("apply_start", "apply")]
    assert calls.index(("apply", "acr_repository.app")) < \
        calls.index(("apply_start", "webhook.push"))


CYCLE = """
    acr_namespace "a" {
      instance_id = "cri-1"
      name        = acr_repository.c.name
    }

    acr_repository "b" {
      namespace = acr_namespace.a.name
      name      = "b"
    }

    acr_repository "c" {
      namespace = acr_repository.b.namespace
      name      = "c"
    }

    acr_namespace "fine" {
      instance_id = "cri-2"
      name        = "fine"
    }
"""


def test_reference_cycle_is_a_diagnostic_naming_every_member(workspace, run_flowplan):
    workspace.write(CYCLE)
    for command in (("validate",), ("plan",), ("graph",)):
        result = run_flowplan(*command)
        assert result.code == 1, str(result)
        match = re.search(r"main\.hcl:(\d+):(\d+): error: Reference cycle", result.stderr)
        assert match, str(result)
        assert int(match.group(1)) in (1, 6, 11), "the cycle points at one of its members"
        for member in ("acr_namespace.a", "acr_repository.b", "acr_repository.c"):
            assert member in result.stderr
        assert "acr_namespace.fine" not in result.stderr
    assert not workspace.state_path.exists()
    assert workspace.calls("apply") == []


SIX = "".join(f"""
    acr_namespace "ns{i}" {{
      instance_id = "cri-{i}"
      name        = "ns{i}"
    }}
""" for i in range(1, 7))


def most_in_flight(calls: list[dict]) -> int:
    """The largest number of applies running at once, from the recorder's start/end records."""
    events = sorted([(c["time"], 1) for c in calls if c["method"] == "apply_start"]
                    + [(c["time"], -1) for c in calls if c["method"] == "apply"],
                    key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_apply_runs_independent_resources_in_parallel_up_to_parallelism(workspace,
                                                                        run_flowplan):
    workspace.write(SIX)
    slow = {"FLOWPLAN_RECORDER_APPLY_DELAY": "0.3"}
    assert_ok(run_flowplan("apply", "--auto-approve", "--parallelism", "2", env=slow))
    assert most_in_flight(workspace.calls()) == 2

    assert_ok(run_flowplan("destroy", "--auto-approve", env=slow))
    workspace.clear_calls()
    assert_ok(run_flowplan("apply", "--auto-approve", env=slow))     # default: 10
    assert most_in_flight(workspace.calls()) == 6

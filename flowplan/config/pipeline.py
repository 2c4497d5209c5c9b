"""A pipeline's normalised definition: the plain data that is planned, stored and executed.

The decoder gives nested blocks as `stage`/`task`/`step`/`cache` maps; the definition renames
them to `stages`/`tasks`/`steps`/`caches` and records the order of stages and steps in `index`,
so a reordering is a change (maps compare without order). `max_concurrent_runs` and `on_limit`
are kept only when the block sets them (the server and `flowplan run` apply them). The same
shape is what the store keeps and what the executor reads, whether it comes from the config or
from the registered copy.
"""

from __future__ import annotations

from typing import Any

DEFINITION_VERSION = 2     # 2: deferred values are template text with plan-time values folded in
DEFAULT_ON_LIMIT = "queue"  # what a start past `max_concurrent_runs` does unless told otherwise


def pipeline_definition(decoded: dict[str, Any]) -> dict[str, Any]:
    stages = {}
    for stage_index, (stage_name, stage) in enumerate((decoded.get("stage") or {}).items()):
        tasks = {}
        for task_name, task in (stage.get("task") or {}).items():
            steps = {}
            for step_index, (step_name, step) in enumerate((task.get("step") or {}).items()):
                steps[step_name] = {"index": step_index, **step}
            # `runs_on` only when set, so that pipelines applied before it existed plan no change
            body = {k: v for k, v in task.items()
                    if k != "step" and not (k == "runs_on" and v is None)}
            tasks[task_name] = {**body, "steps": steps}
        stages[stage_name] = {"index": stage_index, "trigger": stage.get("trigger", "auto"),
                              "tasks": tasks}
    definition = {
        "version": DEFINITION_VERSION,
        "description": decoded.get("description", ""),
        "source": decoded.get("source"),
        "variables": decoded.get("variables") or {},
        "parallelism": decoded.get("parallelism", 4),
        "caches": decoded.get("cache") or {},
        "stages": stages,
    }
    # only when set, so that pipelines applied before these existed plan no change
    limit = decoded.get("max_concurrent_runs")
    on_limit = decoded.get("on_limit", DEFAULT_ON_LIMIT)
    if limit is not None or on_limit != DEFAULT_ON_LIMIT:
        definition["max_concurrent_runs"] = limit
        definition["on_limit"] = on_limit
    return definition


MAX_NAME_BYTES = 255          # a file name on the file systems runs live on


def unusable_file_name(name: str) -> str | None:
    """Why `name` cannot be one directory or file name (stage, task and step names become
    workspace directories), or None."""
    if not name:
        return "a name must not be empty"
    if name.startswith("."):
        return "a name must not start with '.'"
    for character in ("/", "\\", "\0"):
        if character in name:
            return f"a name must not hold {character!r}"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "a name must not hold control characters"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"a name must be at most {MAX_NAME_BYTES} bytes long"
    return None


def task_order_problems(stage_name: str, tasks: dict[str, dict]) -> list[tuple[str, str]]:
    """`needs` naming a task that is not in the stage, or needs that form a cycle, as
    (task at fault, message)."""
    problems: list[tuple[str, str]] = []
    for name, task in tasks.items():
        needs = task.get("needs") or []
        if not isinstance(needs, list):
            continue
        for need in needs:
            if isinstance(need, str) and need not in tasks:     # a run-time one: refused apart
                problems.append((name, f'task "{name}" needs "{need}", which is not a task of '
                                       f'stage "{stage_name}" (tasks: {", ".join(tasks)})'))
    visiting: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state = visiting.get(node)
        if state == 2:
            return
        if state == 1:
            cycle = trail[trail.index(node):] + [node]
            problems.append((node, f'tasks of stage "{stage_name}" need each other in a '
                                   "cycle: " + " -> ".join(cycle)))
            return
        visiting[node] = 1
        needs = tasks[node].get("needs")
        for need in needs if isinstance(needs, list) else []:
            if isinstance(need, str) and need in tasks:
                visit(need, trail + [node])
        visiting[node] = 2

    for name in tasks:
        visit(name, [])
    return problems

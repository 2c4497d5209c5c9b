"""diff_attributes: the changed leaves between two attribute maps, with readable paths.

DeepDiff finds the changes; this module treats value markers (unknown, sensitive, deferred) as
opaque leaves, names each change by a path such as `stages.build.tasks.package.steps.mvn.command`
or `paths[0]`, flags those that force replacement, and orders them as they appear in the values.
Deciding the action is flowplan.plan.decide's job; showing the changes is flowplan.views'.
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from flowplan.plan.decide import same_value
from flowplan.plan.model import AttributeChange, is_marker

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def _markers_are_leaves():
    """A DeepDiff operator built on first use: deepdiff is imported only when a diff is needed."""
    from deepdiff.operator import BaseOperator

    class MarkersAreLeaves(BaseOperator):
        """Compares a marker with anything as one value, so `$unknown` never shows as a nested
        key."""

        def match(self, level) -> bool:
            return is_marker(level.t1) or is_marker(level.t2)

        def give_up_diffing(self, level, diff_instance) -> bool:
            if not same_value(level.t1, level.t2):
                diff_instance.custom_report_result("values_changed", level)
            return True

    return MarkersAreLeaves()


def diff_attributes(before: dict | None, after: dict | None,
                    force_new: Sequence[str]) -> tuple[AttributeChange, ...]:
    """One AttributeChange per changed leaf, in document order.

    An added key has `before` None and a removed key `after` None; a key added or removed with a
    map or list value is one change carrying that whole value. A change forces replacement when
    its path is, is inside, or contains an attribute path in `force_new` (only when both sides
    exist: a create or a delete replaces nothing). Call it only when before != after.
    """
    before_map = before or {}
    after_map = after or {}
    can_replace = before is not None and after is not None
    if not before_map or not after_map:     # DeepDiff reports these as one change at the root
        return tuple(AttributeChange(format_path([key]), before_map.get(key),
                                     after_map.get(key), False)
                     for key in (*before_map, *after_map))
    from deepdiff import DeepDiff
    from deepdiff.helper import NotPresent

    diff = DeepDiff(before_map, after_map, ignore_order=False, verbose_level=2, view="tree",
                    custom_operators=[_markers_are_leaves()])
    positions = _Positions(before_map, after_map)
    found = []
    for levels in diff.values():
        for level in levels:
            steps = level.path(output_format="list")
            path = format_path(steps)
            found.append((positions.key(steps), AttributeChange(
                path=path,
                before=None if isinstance(level.t1, NotPresent) else level.t1,
                after=None if isinstance(level.t2, NotPresent) else level.t2,
                forces_replacement=can_replace and _forces(path, force_new),
            )))
    found.sort(key=lambda item: item[0])
    return tuple(change for _, change in found)


def format_path(steps: Sequence[Any]) -> str:
    """`["stages", "build", "paths", 0]` → `stages.build.paths[0]`; odd keys as `tags["a b"]`."""
    text = []
    for step in steps:
        if isinstance(step, int):
            text.append(f"[{step}]")
        elif _IDENTIFIER.match(str(step)):
            text.append(f".{step}" if text else str(step))
        else:
            text.append(f"[{json.dumps(str(step), ensure_ascii=False)}]")
    return "".join(text)


def _forces(path: str, force_new: Sequence[str]) -> bool:
    for attribute in force_new:
        if path == attribute or _is_inside(path, attribute) or _is_inside(attribute, path):
            return True
    return False


def _is_inside(path: str, ancestor: str) -> bool:
    return path.startswith(ancestor) and path[len(ancestor):len(ancestor) + 1] in (".", "[")


class _Positions:
    """Sort keys that put changes in the order their paths appear in `after`, then `before`."""

    def __init__(self, before: dict, after: dict):
        self.before = before
        self.after = after
        self.key_indexes: dict[int, dict] = {}

    def key(self, steps: Sequence[Any]) -> tuple:
        before, after = self.before, self.after
        key = []
        for step in steps:
            if isinstance(step, int):
                key.append(step)
            else:
                index = self._index(after).get(step)
                if index is None:           # removed: after everything still present
                    after_size = len(after) if isinstance(after, dict) else 0
                    index = after_size + self._index(before).get(step, 0)
                key.append(index)
            before = _child(before, step)
            after = _child(after, step)
        return tuple(key)

    def _index(self, value: Any) -> dict:
        if not isinstance(value, dict):
            return {}
        indexes = self.key_indexes.get(id(value))
        if indexes is None:
            indexes = {key: i for i, key in enumerate(value)}
            self.key_indexes[id(value)] = indexes
        return indexes


def _child(value: Any, step: Any) -> Any:
    if isinstance(value, dict):
        return value.get(step)
    if isinstance(value, list) and isinstance(step, int) and step < len(value):
        return value[step]
    return None

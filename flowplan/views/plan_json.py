"""The plan as machine-readable JSON, shaped like Terraform's `show -json` resource_changes.

Values go out as plain JSON: an unknown leaf becomes null with true in `after_unknown`, a sensitive
leaf null with true in `before_sensitive`/`after_sensitive`, so no secret digest ever leaves; a
value the run completes becomes {"deferred": "<template text>"} (a sensitive variable in it is a
reference, `${var.NAME}`, never a value).
The plan file itself (flowplan.plan.model) is a different, lossless format.
"""

from __future__ import annotations

import json
from typing import Any

from flowplan.plan.model import DEFERRED_KEY, Plan, ResourceChange
from flowplan.values import SENSITIVE_KEY, UNKNOWN_KEY


def render_plan_json(plan: Plan) -> str:
    add, change, destroy = plan.counts
    document = {
        "format_version": plan.format_version,
        "timestamp": plan.created_at,
        "resource_changes": [_resource_change(c) for c in plan.changes],
        "summary": {"add": add, "change": change, "destroy": destroy},
        "state": {"lineage": plan.state_lineage, "serial": plan.state_serial},
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _resource_change(change: ResourceChange) -> dict:
    before, _, before_sensitive = _split(change.before)
    after, after_unknown, after_sensitive = _split(change.after)
    if change.before is not None:
        before_sensitive = _top_mask(before_sensitive)
    if change.after is not None:
        after_sensitive = _top_mask(after_sensitive)
    return {
        "address": change.address,
        "type": change.type,
        "name": change.name,
        "provider_name": change.provider,
        "action_reason": change.reason,
        "change": {
            "actions": change.action.terraform_actions,
            "before": before,
            "after": after,
            "after_unknown": _top_mask(after_unknown),
            "before_sensitive": before_sensitive,
            "after_sensitive": after_sensitive,
        },
    }


def _split(value: Any) -> tuple[Any, Any, Any]:
    """(value without markers, unknown mask, sensitive mask).

    A mask is true at a marked leaf and false for a subtree with no marked leaf; a map mask lists
    only its keys with marked leaves, a list mask every item. Terraform's masks also keep empty
    `{}` for unmarked maps; leaving them out means the same and keeps pipeline masks short.
    """
    if isinstance(value, dict):
        if SENSITIVE_KEY in value:
            return None, False, True
        if UNKNOWN_KEY in value:
            return None, True, False
        if DEFERRED_KEY in value:
            # template text: run-time names and sensitive variables are references in it
            return {"deferred": value[DEFERRED_KEY]}, False, False
        plain, unknown, sensitive = {}, {}, {}
        for key, item in value.items():
            plain[key], item_unknown, item_sensitive = _split(item)
            if item_unknown is not False:
                unknown[key] = item_unknown
            if item_sensitive is not False:
                sensitive[key] = item_sensitive
        return plain, unknown or False, sensitive or False
    if isinstance(value, list):
        parts = [_split(item) for item in value]
        unknown = [p[1] for p in parts]
        sensitive = [p[2] for p in parts]
        return ([p[0] for p in parts],
                unknown if any(m is not False for m in unknown) else False,
                sensitive if any(m is not False for m in sensitive) else False)
    return value, False, False


def _top_mask(mask: Any) -> Any:
    """A resource's top-level mask is always an object, as in Terraform."""
    return {} if mask is False else mask

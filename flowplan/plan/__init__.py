"""The plan as data: what will change, how, and why.

model.py holds Action, AttributeChange, ResourceChange and Plan (with the plan file format);
decide.py the one pure decide_action(); diff.py diff_attributes(). Building a plan from config,
state and providers is the planner's job; rendering it is flowplan.views'.
"""

from flowplan.plan.decide import decide_action, same_value
from flowplan.plan.diff import diff_attributes, format_path
from flowplan.plan.model import (
    DEFERRED_KEY,
    PLAN_FILE_VERSION,
    Action,
    AttributeChange,
    Plan,
    ResourceChange,
    is_deferred_marker,
    is_marker,
)

__all__ = [
    "DEFERRED_KEY",
    "PLAN_FILE_VERSION",
    "Action",
    "AttributeChange",
    "Plan",
    "ResourceChange",
    "decide_action",
    "diff_attributes",
    "format_path",
    "is_deferred_marker",
    "is_marker",
    "same_value",
]

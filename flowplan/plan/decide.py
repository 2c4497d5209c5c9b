"""decide_action: the one pure function that turns (prior, planned, requires_replace) into an action.

Providers propose a planned state and the attributes that force replacement; core decides here,
and says why. Nothing here reads state, calls a provider or renders: the planner does the first
two, flowplan.views the last.
"""

from __future__ import annotations

from typing import Any, Sequence

from flowplan.plan.model import Action

_MISSING = object()


def decide_action(prior: dict | None, planned: dict | None, requires_replace: Sequence[str],
                  replace_requested: bool = False,
                  delete_reason: str | None = None) -> tuple[Action, str]:
    """The action for one resource and its reason, e.g. (REPLACE, "replace because name changed").

    `prior` is the state's attributes (None: not in state), `planned` the provider's proposal
    (None: no longer in config, or destroy mode, whose caller passes its own `delete_reason`).
    `requires_replace` names attributes, top-level or dotted (`source.url`), whose change forces
    replacement. An unknown marker planned against a known prior value is a change; equal
    sensitive markers (same digest) are not.
    """
    if prior is None and planned is None:
        raise ValueError("decide_action needs a prior or a planned state")
    if prior is None:
        return Action.CREATE, "create because not in state"
    if planned is None:
        return Action.DELETE, delete_reason or "delete because no longer in config"
    if replace_requested:
        return Action.REPLACE, "replace as requested"
    if same_value(prior, planned):
        return Action.NOOP, "no changes"
    forcing = [path for path in requires_replace
               if not same_value(_lookup(prior, path), _lookup(planned, path))]
    if forcing:
        return Action.REPLACE, f"replace because {', '.join(forcing)} changed"
    changed = [key for key in planned
               if not same_value(prior.get(key, _MISSING), planned[key])]
    changed += [key for key in prior if key not in planned]
    return Action.UPDATE, f"update because {', '.join(changed)} changed"


def same_value(left: Any, right: Any) -> bool:
    """JSON equality: like ==, except that true and 1 (or false and 0) differ.

    Plain == settles most cases at C speed (unequal values, or equal ones without bools); only
    equal values are checked again for a bool standing where the other side has a number.
    """
    if left != right:
        return False
    return _same_bools(left, right)


def _same_bools(left: Any, right: Any) -> bool:
    """For values already known to be ==: True unless a bool faces a non-bool somewhere."""
    if type(left) is bool or type(right) is bool:
        return type(left) is type(right)
    if type(left) is dict:
        return all(_same_bools(value, right[key]) for key, value in left.items())
    if type(left) is list:
        return all(map(_same_bools, left, right))
    return True


def _lookup(attributes: dict, path: str) -> Any:
    """The value at a top-level or dotted attribute path; _MISSING when any step is absent."""
    if path in attributes:
        return attributes[path]
    value: Any = attributes
    for step in path.split("."):
        if not isinstance(value, dict) or step not in value:
            return _MISSING
        value = value[step]
    return value

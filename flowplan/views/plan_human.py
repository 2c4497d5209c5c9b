"""The plan as terminal text, shaped like Terraform's: legend, one block per change, summary line.

Also holds what the Markdown view shares with it: HCL-like value formatting (`format_value`) and
the lines of each resource block (`resource_lines`). Deciding what changes is flowplan.plan's job;
writing the text anywhere is the caller's. Rendering is linear in the size of the plan.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring as _quote
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

from rich.color import ColorSystem
from rich.style import Style

from flowplan.plan.model import DEFERRED_KEY, Action, Plan, ResourceChange, is_marker
from flowplan.values import SENSITIVE_KEY, UNKNOWN_KEY

INLINE_WIDTH = 60        # lists and maps whose one-line form is longer go multi-line
INDENT = 4               # per nesting level inside a multi-line value

SIGNS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
}
LEGEND = {
    Action.CREATE: "  + create",
    Action.UPDATE: "  ~ update in-place",
    Action.REPLACE: "-/+ destroy and then create replacement",
    Action.DELETE: "  - destroy",
}
HEADLINES = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in-place",
    Action.REPLACE: "must be replaced",
    Action.DELETE: "will be destroyed",
}
NO_CHANGES = "No changes. Your configuration matches the state."

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


# --- values -------------------------------------------------------------------------------------

def format_value(value: Any, indent: int = 0, omit_null: bool = False) -> list[str]:
    """HCL-like text of a plain JSON value that may hold markers, as lines.

    The first line carries no indentation (it follows `name = `); later lines are indented for a
    value whose first line starts at column `indent`. Sensitive values show as `(sensitive value)`.
    With `omit_null`, map entries that are null are left out (as Terraform does for objects being
    created or destroyed).
    """
    if not isinstance(value, (dict, list)) or is_marker(value):
        return [_scalar(value)]
    if omit_null and isinstance(value, dict):
        value = {k: v for k, v in value.items() if v is not None}
    inline = _inline(value, INLINE_WIDTH, omit_null)
    if inline is not None:
        return [inline]
    inner = " " * (indent + INDENT)
    if isinstance(value, list):
        lines = ["["]
        for item in value:
            item_lines = format_value(item, indent + INDENT, omit_null)
            lines.append(inner + item_lines[0])
            lines.extend(item_lines[1:])
            lines[-1] += ","
        lines.append(" " * indent + "]")
        return lines
    keys = [format_key(key) for key in value]
    width = max(map(len, keys))
    lines = ["{"]
    for key, item in zip(keys, value.values()):
        item_lines = format_value(item, indent + INDENT, omit_null)
        lines.append(f"{inner}{key.ljust(width)} = {item_lines[0]}")
        lines.extend(item_lines[1:])
    lines.append(" " * indent + "}")
    return lines


@lru_cache(maxsize=4096)
def _format_key_text(key: str) -> str:
    return key if _IDENTIFIER.match(key) else _quote(key)


def format_key(key: Any) -> str:
    """A map key or attribute name: bare when it is an identifier, else a quoted string."""
    return _format_key_text(str(key))


def _scalar(value: Any) -> str:
    """Text of a scalar or a marker."""
    if isinstance(value, dict):
        if SENSITIVE_KEY in value:
            return "(sensitive value)"
        if UNKNOWN_KEY in value:
            return f"({value[UNKNOWN_KEY]})"
        if DEFERRED_KEY in value:
            # template text whose ${...} the run fills in; secrets in it are references only
            return _quote(value[DEFERRED_KEY])
    kind = type(value)
    if kind is str:
        return _quote(value)                 # what json.dumps(value, ensure_ascii=False) gives
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    return json.dumps(value)


def _inline(value: Any, budget: int, omit_null: bool = False) -> str | None:
    """One-line text of `value` if it fits in `budget` characters, else None (at O(budget) cost)."""
    if isinstance(value, str) and len(value) > budget:
        return None
    if not isinstance(value, (dict, list)) or is_marker(value):
        text = _scalar(value)
        return text if len(text) <= budget else None
    if not value:
        return "[]" if isinstance(value, list) else "{}"
    # Every entry takes at least its key and " = x, ": give up early on what cannot fit.
    if len(value) * 3 > budget or (isinstance(value, dict) and sum(
            len(str(key)) + 6 for key in value) > budget):
        return None
    parts = []
    remaining = budget - 4
    if isinstance(value, list):
        for item in value:
            text = _inline(item, remaining, omit_null)
            if text is None:
                return None
            remaining -= len(text) + 2
            if remaining < 0:
                return None
            parts.append(text)
        return "[" + ", ".join(parts) + "]"
    for key, item in value.items():
        if omit_null and item is None:
            continue
        key_text = format_key(key)
        remaining -= len(key_text) + 3
        text = _inline(item, remaining, omit_null) if remaining >= 0 else None
        if text is None:
            return None
        remaining -= len(text) + 2
        if remaining < 0:
            return None
        parts.append(f"{key_text} = {text}")
    return "{ " + ", ".join(parts) + " }"


# --- lines of a resource block ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PlanLine:
    """One line of a resource block: `indent` spaces, `sign` and a space when shown, `text`, `note`.

    `mark` is the sign of the change the line belongs to, shown or not (continuation lines of a
    multi-line value belong to their attribute); the Markdown view puts it in column 0. `role`
    says how to colour the text: "headline", "reason" or "" (plain).
    """

    indent: int
    sign: str
    text: str
    mark: str = ""
    note: str = ""
    role: str = ""

    @property
    def lead(self) -> str:
        return " " * self.indent + (self.sign + " " if self.sign else "")

    @property
    def plain(self) -> str:
        return self.lead + self.text + self.note


ATTRIBUTE_INDENT = 6     # column of an attribute's sign; its name starts two columns later
FORCES_REPLACEMENT = " # forces replacement"


def resource_lines(change: ResourceChange) -> Iterator[PlanLine]:
    """The lines of one non-no-op change: headline, reason, `resource` block with attributes."""
    action = change.action
    sign = SIGNS[action]
    yield PlanLine(2, "", f"# {change.address} {HEADLINES[action]}", role="headline")
    yield PlanLine(2, "", f"# ({change.reason})", role="reason")
    yield PlanLine(3 - len(sign), sign,
                   f"resource {json.dumps(change.type)} {json.dumps(change.name)} {{", mark=sign)
    if action is Action.CREATE:
        yield from _whole_lines(change.after or {}, "+", to_null=False)
    elif action is Action.DELETE:
        yield from _whole_lines(change.before or {}, "-", to_null=True)
    else:
        yield from _changed_lines(change)
    yield PlanLine(4, "", "}")


def _whole_lines(attributes: dict, sign: str, to_null: bool) -> Iterator[PlanLine]:
    """Every attribute of a resource being created or destroyed; null ones are left out."""
    shown = {key: value for key, value in attributes.items() if value is not None}
    names = [format_key(key) for key in shown]
    width = max(map(len, names), default=0)
    for name, value in zip(names, shown.values()):
        yield from _attribute_lines(sign, name.ljust(width),
                                    format_value(value, ATTRIBUTE_INDENT + 2, omit_null=True),
                                    ["null"] if to_null else None)


def _changed_lines(change: ResourceChange) -> Iterator[PlanLine]:
    changes = change.attribute_changes
    width = max((len(c.path) for c in changes), default=0)
    for attribute in changes:
        old = format_value(attribute.before, ATTRIBUTE_INDENT + 2)
        new = format_value(attribute.after, ATTRIBUTE_INDENT + 2)
        if attribute.before is None:
            sign, first, then = "+", new, None
        elif attribute.after is None:
            sign, first, then = "-", old, ["null"]
        else:
            sign, first, then = "~", old, new
        note = FORCES_REPLACEMENT if attribute.forces_replacement else ""
        yield from _attribute_lines(sign, attribute.path.ljust(width), first, then, note)
    hidden = _unchanged_count(change)
    if hidden:
        plural = "attribute" if hidden == 1 else "attributes"
        yield PlanLine(ATTRIBUTE_INDENT + 2, "", f"# ({hidden} unchanged {plural} hidden)")


def _attribute_lines(sign: str, name: str, first: list[str], then: list[str] | None,
                     note: str = "") -> Iterator[PlanLine]:
    """`sign name = first [-> then]` over as many lines as the values take."""
    lines = list(first)
    if then is not None:
        lines[-1] += " -> " + then[0]
        lines.extend(then[1:])
    yield PlanLine(ATTRIBUTE_INDENT, sign, f"{name} = {lines[0]}", mark=sign,
                   note=note if len(lines) == 1 else "")
    for i, text in enumerate(lines[1:], start=2):
        yield PlanLine(0, "", text, mark=sign, note=note if i == len(lines) else "")


def _unchanged_count(change: ResourceChange) -> int:
    keys = set(change.before or {}) | set(change.after or {})
    changed = {_root(c.path) for c in change.attribute_changes}
    return len(keys - changed)


def _root(path: str) -> str:
    """The top-level attribute of a path made by flowplan.plan.diff.format_path."""
    if path.startswith("["):
        key, _ = json.JSONDecoder().raw_decode(path, 1)
        return key
    return re.split(r"[.\[]", path, maxsplit=1)[0]


# --- the whole plan -----------------------------------------------------------------------------

def summary_text(plan: Plan) -> str:
    add, change, destroy = plan.counts
    return f"Plan: {add} to add, {change} to change, {destroy} to destroy."


def render_plan_human(plan: Plan, color: bool) -> str:
    """The plan as Terraform-like text; ANSI colours when `color`, else no escape codes at all."""
    paint = _ansi if color else _plain
    if not plan.has_changes:
        return paint(NO_CHANGES, "bold green") + "\n"
    used = {c.action for c in plan.changes}
    out = ["Resource actions are indicated with the following symbols:"]
    out += [_legend_line(LEGEND[action], paint) for action in LEGEND if action in used]
    out += ["", "flowplan will perform the following actions:", ""]
    for change in plan.changes:
        if change.action is Action.NOOP:
            continue
        out.extend(_line_text(line, paint) for line in resource_lines(change))
        out.append("")
    out.append(paint(summary_text(plan), "bold"))
    return "\n".join(out) + "\n"


SIGN_STYLES = {"+": "green", "~": "yellow", "-": "red"}
ROLE_STYLES = {"headline": "bold", "reason": "", "": ""}


def _line_text(line: PlanLine, paint) -> str:
    if paint is _plain:
        return line.plain
    sign = _paint_sign(line.sign, paint) + " " if line.sign else ""
    note = paint(line.note, "red") if line.note else ""
    return " " * line.indent + sign + paint(line.text, ROLE_STYLES[line.role]) + note


def _legend_line(text: str, paint) -> str:
    if paint is _plain:
        return text
    sign, _, words = text.strip().partition(" ")
    return " " * (3 - len(sign)) + _paint_sign(sign, paint) + " " + words


def _paint_sign(sign: str, paint) -> str:
    return "".join(paint(char, SIGN_STYLES.get(char, "")) for char in sign)


def _plain(text: str, style: str) -> str:
    return text


def _ansi(text: str, style: str) -> str:
    return _style(style)(text) if style and text else text


@lru_cache(maxsize=None)
def _style(style: str):
    rendered = Style.parse(style)
    return lambda text: rendered.render(text, color_system=ColorSystem.STANDARD)

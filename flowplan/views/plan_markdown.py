"""The plan as Markdown for a pull-request comment: summary line, destroy warning, collapsed diff.

The body is the human view's resource blocks in a ```diff fence with each line's sign moved to
column 0 (`~` written `!`), so GitHub colours additions, removals and updates. Values are formatted
by flowplan.views.plan_human, so no sensitive value appears here either. Posting the comment is
someone else's job.
"""

from __future__ import annotations

import re

from flowplan.plan.model import Action, Plan
from flowplan.views.plan_human import PlanLine, resource_lines

DIFF_MARKS = {"+": "+", "-": "-", "~": "!", "-/+": "-/+"}


def render_plan_markdown(plan: Plan) -> str:
    if not plan.has_changes:
        return "**flowplan plan**: no changes. Your configuration matches the state.\n"
    add, change, destroy = plan.counts
    out = [f"**flowplan plan**: {add} to add, {change} to change, {destroy} to destroy.", ""]
    destroyed = [c for c in plan.changes if c.action in (Action.DELETE, Action.REPLACE)]
    if destroyed:
        noun = "resource" if len(destroyed) == 1 else "resources"
        out.append("> [!WARNING]")
        out.append(f"> This plan destroys {len(destroyed)} {noun}:")
        for c in destroyed:
            how = "replaced" if c.action is Action.REPLACE else "destroyed"
            out.append(f"> - `{c.address}` ({how})")
        out.append("")
    body = []
    for c in plan.changes:
        if c.action is not Action.NOOP:
            body.extend(_diff_line(line) for line in resource_lines(c))
            body.append("")
    body.pop()
    fence = "`" * max(3, _longest_backtick_run(body) + 1)
    out += ["<details><summary>Show plan</summary>", "", fence + "diff", *body, fence, "",
            "</details>"]
    return "\n".join(out) + "\n"


def _diff_line(line: PlanLine) -> str:
    """The line with its sign blanked and its change's mark in column 0."""
    text = " " * len(line.lead) + line.text + line.note
    if not line.mark:
        return text.rstrip()
    mark = DIFF_MARKS[line.mark]
    return mark + text[len(mark):]


def _longest_backtick_run(lines: list[str]) -> int:
    return max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)

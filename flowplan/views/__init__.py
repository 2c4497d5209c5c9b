"""Renderers: a plan as terminal text, JSON or pull-request Markdown, and diagnostics as text.

Views only format: they take data (a Plan, Diagnostics, source texts) and return strings. Deciding
is flowplan.plan's job; printing, posting or saving is the CLI's and the server's.
"""

from flowplan.views.diagnostics_text import render_diagnostics, summary_line
from flowplan.views.plan_human import format_value, render_plan_human
from flowplan.views.plan_json import render_plan_json
from flowplan.views.plan_markdown import render_plan_markdown

__all__ = [
    "format_value",
    "render_diagnostics",
    "render_plan_human",
    "render_plan_json",
    "render_plan_markdown",
    "summary_line",
]

"""The state as text: `state list` lines and `state show` / `show` resource blocks.

Values are formatted like plans (flowplan.views.plan_human.format_value), so sensitive values read
`(sensitive value)` here too.
"""

from __future__ import annotations

from flowplan.state import ResourceState, State
from flowplan.views.plan_human import format_key, format_value


def render_state_list(state: State) -> str:
    return "".join(f"{r.address}\n" for r in state)


def render_resource(resource: ResourceState) -> str:
    lines = [f"# {resource.address}:", f'resource "{resource.type}" "{resource.name}" {{']
    width = max((len(format_key(k)) for k in resource.attributes), default=0)
    for key, value in resource.attributes.items():
        rendered = format_value(value, 4)
        lines.append(f"    {format_key(key).ljust(width)} = {rendered[0]}")
        lines.extend(rendered[1:])
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_state(state: State) -> str:
    if len(state) == 0:
        return "The state is empty. Run flowplan apply to provision the config.\n"
    return "\n".join(render_resource(r) for r in state)

"""Run-time evaluation: the `$deferred` values of a pipeline definition, resolved by the run.

Everything known at plan time is folded into a pipeline's definition when it is planned
(flowplan.config.partial); what is left is stored as `{"$deferred": "<template text>",
"sensitive": bool}`, text that refers only to `run.*` (with `run.variables.NAME`, the run's
pipeline variables), `steps.*`, `path.cwd`, `hash_files(...)`, sensitive `var.*` and, for values
a provider computes, resource attributes. The executor resolves it here with a `RunContext`: the
run's facts, earlier steps' outputs, the sensitive variables' values, the workspace (which
`hash_files` and `path.cwd` name) and the state's resource attributes.

`render_script` is for shell scripts (a command step's `run`): every interpolated value that comes
from outside the config (`run.*`, `steps.*`, `var.*`, which `--var`, webhooks and secrets set) is
pasted as data, quoted for where it lands, so a branch named `x; rm -rf /` stays one word; text
folded in at plan time was reviewed in the plan and is pasted as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from flowplan.config.expressions import (EvalError, Names, Scope, deep_unwrap, evaluate,
                                         references, to_string)
from flowplan.config.functions import build_functions
from flowplan.config.partial import DEFERRED_KEY
from flowplan.config.syntax import E_TEMPLATE, parse_template

UNTRUSTED_ROOTS = ("run", "steps", "var")


class RuntimeEvaluationError(Exception):
    """A deferred expression could not be evaluated; the message says which and why."""


@dataclass
class RunContext:
    variables: dict[str, Any]
    sensitive: set[str]
    run: dict[str, Any]
    step_outputs: dict[str, dict[str, dict[str, str]]]
    workspace: Path
    config_dir: Path
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)   # by address

    def scope(self) -> Scope:
        roots: dict[str, Any] = {
            "var": Names("var", self.variables),
            "run": Names("run", self.run),
            "steps": Names("steps", self.step_outputs),
            "path": Names("path", {"config": str(self.config_dir.resolve()),
                                    "cwd": str(self.workspace)}),
        }
        for type_ in {address.split(".", 1)[0] for address in self.resources}:
            roots[type_] = Names(type_, {
                address.split(".", 1)[1]: attributes
                for address, attributes in self.resources.items()
                if address.startswith(type_ + ".")})
        return Scope(roots, build_functions(self.workspace))

    def secret_values(self) -> list[str]:
        """Values of sensitive variables, for the log masker."""
        return [to_string(self.variables[name]) for name in self.sensitive
                if name in self.variables and self.variables[name] is not None]


def is_deferred(value: Any) -> bool:
    return isinstance(value, dict) and DEFERRED_KEY in value


def resolve(value: Any, ctx: RunContext, scope: Scope | None = None) -> Any:
    """`value` with every deferred marker inside it evaluated."""
    if is_deferred(value):
        scope = scope or ctx.scope()
        return deep_unwrap(_evaluate(value[DEFERRED_KEY], scope))
    if isinstance(value, dict):
        scope = scope or ctx.scope()
        return {k: resolve(v, ctx, scope) for k, v in value.items()}
    if isinstance(value, list):
        scope = scope or ctx.scope()
        return [resolve(v, ctx, scope) for v in value]
    return value


def render_script(value: Any, ctx: RunContext) -> str:
    """A shell script from a `run` value, with untrusted interpolations pasted as data.

    flowplan.executor.step_process.shellquote decides how to quote each untrusted value for the
    place in the script where it lands (inside "...", unquoted, in a here-document, ...).
    """
    from flowplan.executor.step_process.shellquote import Value, render_shell_template

    if not is_deferred(value):
        return to_string(value)
    source = value[DEFERRED_KEY]
    node = _parse(source)
    scope = ctx.scope()
    parts = node[3] if node[0] == E_TEMPLATE else (node,)
    pieces: list[Any] = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        text = to_string(deep_unwrap(_evaluate_node(part, scope, source)))
        untrusted = any(names[0] in UNTRUSTED_ROOTS for names, _l, _c in references(part))
        pieces.append(Value(text, untrusted=untrusted))
    return render_shell_template(pieces)


def variables_used(definition: Any) -> set[str]:
    """Names of the variables (`var.NAME`, all sensitive) that a definition's deferred values
    refer to: the values a run must resolve before it starts."""
    found: set[str] = set()
    if is_deferred(definition):
        for names, _line, _column in references(_parse(definition[DEFERRED_KEY])):
            if names[0] == "var" and len(names) > 1:
                found.add(names[1])
    elif isinstance(definition, dict):
        for value in definition.values():
            found |= variables_used(value)
    elif isinstance(definition, list):
        for value in definition:
            found |= variables_used(value)
    return found


def _evaluate(source: str, scope: Scope) -> Any:
    return _evaluate_node(_parse(source), scope, source)


def _evaluate_node(node: tuple, scope: Scope, source: str) -> Any:
    try:
        return evaluate(node, scope)
    except EvalError as exc:
        raise RuntimeEvaluationError(f"{exc.summary} in {source}: {exc.detail}") from None


@lru_cache(maxsize=4096)
def _parse(source: str) -> tuple:
    node, problems = parse_template(source)
    if node is None:
        detail = problems[0].detail if problems else "cannot parse"
        raise RuntimeEvaluationError(f"Invalid deferred value {source}: {detail}")
    return node

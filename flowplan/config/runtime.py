"""Run-time evaluation: the `$deferred` values of a pipeline definition, resolved when a run starts.

A pipeline attribute that uses `run.*`, `steps.*`, a sensitive variable or `hash_files(...)` is
stored as `{"$deferred": "<expression source>", "sensitive": bool}` (flowplan.config.schema). The
executor resolves it here with a `RunContext`: variable values, run facts (number, commit,
branch...), earlier steps' outputs, the workspace (which `hash_files` reads) and the state's
resource attributes.

`render_script` is for shell scripts (a command step's `run`): every interpolated value that comes
from outside the config (`run.*`, `steps.*`, `var.*`, which `--var` and webhooks can set) is
pasted as data, quoted for where it lands, so a branch named `x; rm -rf /` stays one word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from flowplan.config.expressions import (EvalError, Names, Scope, deep_unwrap, evaluate,
                                         references, to_string)
from flowplan.config.functions import build_functions
from flowplan.config.schema import DEFERRED_KEY
from flowplan.config.syntax import E_TEMPLATE, parse_expression

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
    locals: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)   # by address

    def scope(self) -> Scope:
        roots: dict[str, Any] = {
            "var": Names("var", self.variables),
            "local": Names("local", self.locals),
            "source": Names("source", self.sources),
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

    flowplan.executor.shellquote decides how to quote each untrusted value for the place in the
    script where it lands (inside "...", unquoted, in a here-document, ...).
    """
    from flowplan.executor.shellquote import Value, render_shell_template

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


def _evaluate(source: str, scope: Scope) -> Any:
    return _evaluate_node(_parse(source), scope, source)


def _evaluate_node(node: tuple, scope: Scope, source: str) -> Any:
    try:
        return evaluate(node, scope)
    except EvalError as exc:
        raise RuntimeEvaluationError(f"{exc.summary} in {source}: {exc.detail}") from None


@lru_cache(maxsize=4096)
def _parse(source: str) -> tuple:
    node, problems = parse_expression(source)
    if node is None:
        detail = problems[0].detail if problems else "cannot parse"
        raise RuntimeEvaluationError(f"Invalid deferred expression {source}: {detail}")
    return node

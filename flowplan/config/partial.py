"""Partial evaluation: a pipeline attribute with everything known at plan time folded in.

A pipeline's attributes are evaluated when the plan is made (config variables are plan-time
inputs), so the plan shows what will run. Only what waits for the run stays an expression:
`run.*`, `steps.*`, `hash_files(...)`, `path.cwd` and sensitive variables, which are kept as
references and never as values. Such a value is planned, stored and shown as a deferred marker

    {"$deferred": "<template text>", "sensitive": bool}

whose text is the attribute as a template with the known parts pasted in, e.g.
`./deploy.sh staging ${run.commit_short}` for `"./deploy.sh ${var.env} ${run.commit_short}"`; a
value that is one expression is the template `${EXPRESSION}`, which evaluates to the value itself
(not its string form). Known values inside maps and lists stay plain data: only the leaves that
wait for the run become markers.

The folding is syntactic: each sub-expression whose value is known and not sensitive becomes a
literal; a conditional whose condition is known becomes its chosen branch; a local whose value is
not known becomes its own (folded) expression, so the stored text refers to nothing but run-time
names. What the names mean is the loader's business; evaluating the text at run time is
flowplan.config.runtime's.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from flowplan.config.expressions import EvalError, ResourceRef, Scope, evaluate, to_string
from flowplan.config.syntax import (E_ATTR, E_BINARY, E_CALL, E_COND, E_INDEX, E_NAME,
                                    E_OBJECT, E_TEMPLATE, E_TUPLE, E_UNARY)
from flowplan.values import DEFERRED_KEY, Sensitive, Unknown

# How to fold `local.NAME` whose value is not plain: its declared expression.
LocalExpressions = Callable[[str], "tuple | None"]


def is_plain(value: Any) -> bool:
    """True for plain JSON-like data: nothing unknown, sensitive, or a reference to a block."""
    kind = type(value)
    if kind is dict:
        return all(is_plain(v) for v in value.values())
    if kind is list:
        return all(is_plain(v) for v in value)
    return value is None or kind in (str, int, float, bool)


def holds_secret(value: Any) -> bool:
    """True when `value` is or holds a sensitive value, known or not."""
    if isinstance(value, Sensitive):
        return True
    if isinstance(value, Unknown):
        return value.sensitive
    if isinstance(value, dict):
        return any(holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_secret(v) for v in value)
    return False


def holds_deferred(value: Any) -> bool:
    """True when `value` is or holds a deferred marker: something the run completes."""
    if isinstance(value, dict):
        return DEFERRED_KEY in value or any(holds_deferred(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_deferred(v) for v in value)
    return False


def deferred(text: str, sensitive: bool) -> dict[str, Any]:
    return {DEFERRED_KEY: text, "sensitive": sensitive}


class Folder:
    """Folds the known parts of expressions evaluated in `scope` (a pipeline's scope, where
    run-time names and sensitive variables are unknown)."""

    def __init__(self, scope: Scope, local_expressions: LocalExpressions):
        self.scope = scope
        self.local_expressions = local_expressions
        self.refers_to_secret = False

    def value(self, node: tuple, value: Any) -> Any:
        """The planned form of `node`, whose evaluated value is `value`: the value when it is
        plain, else maps and lists with deferred leaves, or one deferred marker."""
        if is_plain(value):
            return value
        if node[0] == E_OBJECT and isinstance(value, dict):
            result = {}
            for key_node, value_node in node[3]:
                key = str(self._evaluate(key_node))
                result[key] = self.value(value_node, value.get(key))
            return result
        if node[0] == E_TUPLE and isinstance(value, list):
            return [self.value(item, item_value) for item, item_value in zip(node[3], value)]
        if node[0] == E_COND:
            condition = self._evaluate(node[3])
            if type(condition) is bool:
                branch = node[4] if condition else node[5]
                return self.value(branch, self._evaluate(branch))
        self.refers_to_secret = False
        text = self.template_text(node)
        return deferred(text, holds_secret(value) or self.refers_to_secret)

    def template_text(self, node: tuple) -> str:
        """`node` as template text: literal text with `${...}` where the run fills in."""
        if node[0] == E_TEMPLATE and not (len(node[3]) == 1 and not isinstance(node[3][0], str)):
            return "".join(_template_escape(part) if isinstance(part, str)
                           else self._interpolation(part, _template_escape)
                           for part in node[3])
        return "${" + self.expression(node) + "}"

    def expression(self, node: tuple) -> str:
        """HCL source of `node` with its known, non-sensitive parts as literals."""
        value = self._evaluate(node)
        if is_plain(value):
            return literal(value)
        kind = node[0]
        if kind == E_NAME:
            if node[3] == "var":                # only sensitive variables are left unfolded
                self.refers_to_secret = True
            return node[3]
        if kind == E_ATTR:
            target = node[3]
            if target[0] == E_NAME and target[3] == "local":
                local = self.local_expressions(node[4])
                if local is not None:
                    return "(" + self.expression(local) + ")"
            return self.expression(target) + "." + node[4]
        if kind == E_INDEX:
            return f"{self.expression(node[3])}[{self.expression(node[4])}]"
        if kind == E_TEMPLATE:
            if len(node[3]) == 1 and not isinstance(node[3][0], str):
                return self.expression(node[3][0])
            return '"' + "".join(_quoted_escape(part) if isinstance(part, str)
                                 else self._interpolation(part, _quoted_escape)
                                 for part in node[3]) + '"'
        if kind == E_CALL:
            return f"{node[3]}({', '.join(self.expression(a) for a in node[4])})"
        if kind == E_TUPLE:
            return "[" + ", ".join(self.expression(item) for item in node[3]) + "]"
        if kind == E_OBJECT:
            return "{" + ", ".join(f"{self.expression(k)} = {self.expression(v)}"
                                   for k, v in node[3]) + "}"
        if kind == E_BINARY:
            return f"({self.expression(node[4])} {node[3]} {self.expression(node[5])})"
        if kind == E_UNARY:
            return f"{node[3]}({self.expression(node[4])})"
        if kind == E_COND:
            condition = self._evaluate(node[3])
            if type(condition) is bool:
                return self.expression(node[4] if condition else node[5])
            return (f"({self.expression(node[3])} ? {self.expression(node[4])} : "
                    f"{self.expression(node[5])})")
        raise EvalError("Unsupported expression", f"Cannot keep {kind!r} for the run.",
                        node[1], node[2])

    def _interpolation(self, node: tuple, escape: Callable[[str], str]) -> str:
        value = self._evaluate(node)
        if is_plain(value):
            return escape(to_string(value, node))
        return "${" + self.expression(node) + "}"

    def _evaluate(self, node: tuple) -> Any:
        value = evaluate(node, self.scope)
        if isinstance(value, ResourceRef) or hasattr(value, "lookup"):
            return Unknown("a reference")
        return value


def literal(value: Any) -> str:
    """HCL source of a plain value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return str(int(value)) if value.is_integer() else repr(value)
        raise EvalError("Invalid number", f"{value} cannot be written in a pipeline.")
    if isinstance(value, str):
        return '"' + _quoted_escape(value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{_quoted_escape(str(k))}" = {literal(v)}'
                               for k, v in value.items()) + "}"
    raise EvalError("Invalid value", f"A {type(value).__name__} cannot be written as HCL.")


def _template_escape(text: str) -> str:
    return text.replace("${", "$${").replace("%{", "%%{")


_QUOTED = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quoted_escape(text: str) -> str:
    return _template_escape("".join(_QUOTED.get(ch, ch) for ch in text))

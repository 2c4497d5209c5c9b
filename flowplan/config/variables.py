"""Input variables: their type constraints and where their values come from.

Values come from, in order of precedence (later wins): the `default` in the `variable` block,
`*.auto.fpvars` files (HCL attribute files, sorted by name), `--var NAME=VALUE` options, and
`FP_VAR_NAME` environment variables. Values given as text (options, environment) are converted to
the declared type; lists and maps are written in HCL syntax, as in Terraform.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flowplan.config.expressions import EvalError, Scope, evaluate, parse_number, type_name
from flowplan.config.syntax import E_CALL, E_NAME, parse_expression

ENV_PREFIX = "FP_VAR_"
PRIMITIVE_TYPES = ("string", "number", "bool", "any")


@dataclass(frozen=True)
class VariableType:
    """A type constraint: `string`, `number`, `bool`, `any`, `list(T)`, `map(T)`."""

    kind: str
    element: "VariableType | None" = None

    def __str__(self) -> str:
        return f"{self.kind}({self.element})" if self.element else self.kind


ANY = VariableType("any")


def parse_type(node: tuple) -> VariableType:
    """The type constraint written in a `type = ...` attribute."""
    if node[0] == E_NAME and node[3] in PRIMITIVE_TYPES:
        return VariableType(node[3])
    if node[0] == E_CALL and node[3] in ("list", "map", "set") and len(node[4]) == 1:
        kind = "list" if node[3] == "set" else node[3]
        return VariableType(kind, parse_type(node[4][0]))
    raise EvalError("Invalid type constraint",
                    "A type is one of string, number, bool, any, list(TYPE) or map(TYPE).",
                    node[1], node[2])


def convert(value: Any, constraint: VariableType) -> Any:
    """`value` converted to `constraint`, or ValueError saying why it does not fit."""
    kind = constraint.kind
    if value is None or kind == "any":
        return value
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, str):
            return value
    elif kind == "number":
        number = parse_number(value) if isinstance(value, str) else value
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number: a number variable holds no "
                             "NaN or infinity (state and store keep values as JSON, which has "
                             "neither)")
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            return number
    elif kind == "bool":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
    elif kind == "list" and isinstance(value, list):
        assert constraint.element is not None
        return [convert(v, constraint.element) for v in value]
    elif kind == "map" and isinstance(value, dict):
        assert constraint.element is not None
        return {k: convert(v, constraint.element) for k, v in value.items()}
    raise ValueError(f"a {type_name(value)} value {value!r} does not fit type {constraint}")


def from_text(text: str, constraint: VariableType) -> Any:
    """A value given on the command line or in the environment."""
    if constraint.kind in ("list", "map"):
        example = '["a", "b"]' if constraint.kind == "list" else '{ key = "value" }'
        problem = ValueError(f"{text!r} is not a {constraint}; write it in HCL syntax, "
                             f"e.g. {example}")
        node, problems = parse_expression(text)
        if problems or node is None:
            raise problem
        try:
            return convert(evaluate(node, Scope({}, {})), constraint)
        except EvalError:
            raise problem from None
    return convert(text, constraint)


def parse_assignment(text: str) -> tuple[str, str]:
    """`NAME=VALUE` from a --var option."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"--var {text!r}: write --var NAME=VALUE")
    return name.strip(), value


def environment_values(environ: dict[str, str]) -> dict[str, str]:
    return {k[len(ENV_PREFIX):]: v for k, v in environ.items()
            if k.startswith(ENV_PREFIX) and len(k) > len(ENV_PREFIX)}

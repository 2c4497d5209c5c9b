"""Evaluating expressions: references, templates, operators, conditionals and function calls.

The nodes come from flowplan.config.syntax. A `Scope` maps each root name (`var`, `local`,
`source`, `pipeline`, `run`, ...) to a `Namespace` that resolves the next name. Values are plain
Python data plus three wrappers:

- `Unknown` (flowplan.values): not known until apply or until a run; operations on it stay unknown.
- `Sensitive` (flowplan.values): operations on it return Sensitive results, so a secret pasted into a
  template keeps the whole string secret.
- `ResourceRef`: a reference to a whole resource (`pipeline.app`), which attributes of reference
  type turn into the resource's address and which creates a dependency.

Errors in user expressions raise `EvalError` with a position; callers turn them into diagnostics.
What names exist and what they hold is the loader's business, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from flowplan.config.syntax import (E_ATTR, E_BINARY, E_CALL, E_COND, E_INDEX, E_LIT, E_NAME,
                                    E_OBJECT, E_TEMPLATE, E_TUPLE, E_UNARY)
from flowplan.values import Sensitive, Unknown


class EvalError(Exception):
    def __init__(self, summary: str, detail: str, line: int = 0, column: int = 0):
        super().__init__(summary)
        self.summary, self.detail, self.line, self.column = summary, detail, line, column


@dataclass(frozen=True)
class ResourceRef:
    """A reference to a whole resource, e.g. `pipeline.java_ecs`."""

    type: str
    name: str
    namespace: "Namespace"

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


class Namespace(Protocol):
    """Something that resolves `.name` after a root name or a value."""

    def lookup(self, name: str, line: int, column: int) -> Any: ...


class Names:
    """A namespace over a dict: `root.NAME` looks NAME up. A missing name gives `missing`, or,
    when `missing` is None, an error listing the names there are."""

    def __init__(self, root: str, values: dict[str, Any], missing: Any = None):
        self.root = root
        self.values = values
        self.missing = missing

    def lookup(self, name: str, line: int, column: int) -> Any:
        if name in self.values:
            return self.values[name]
        if self.missing is not None:
            return self.missing
        known = ", ".join(sorted(self.values)) or "none"
        raise EvalError("Unknown name", f"{self.root}.{name} is not available (known: {known}).",
                        line, column)


class Scope:
    """Root names and functions visible to an expression."""

    def __init__(self, roots: dict[str, Namespace], functions: dict[str, Callable[..., Any]]):
        self.roots = roots
        self.functions = functions

    def child(self, **roots: Namespace) -> "Scope":
        merged = dict(self.roots)
        merged.update(roots)
        return Scope(merged, self.functions)


# -- references ---------------------------------------------------------------------------------

def references(node: Any) -> Iterator[tuple[tuple[str, ...], int, int]]:
    """Every traversal in an expression as (names, line, column), e.g. (("var", "x"), 3, 9).

    Only the static part of a traversal is returned: `a.b[0].c` gives ("a", "b").
    """
    if not isinstance(node, tuple) or not node:
        return
    kind = node[0]
    if kind in (E_NAME, E_ATTR, E_INDEX):
        path = _static_path(node)
        if path is not None:
            yield path, node[1], node[2]
        if kind == E_INDEX:
            if path is None:
                yield from references(node[3])
            yield from references(node[4])
        elif kind == E_ATTR and path is None:
            yield from references(node[3])
        return
    if kind == E_LIT:
        return
    if kind == E_TEMPLATE:
        for part in node[3]:
            yield from references(part)
    elif kind == E_CALL:
        for arg in node[4]:
            yield from references(arg)
    elif kind == E_TUPLE:
        for item in node[3]:
            yield from references(item)
    elif kind == E_OBJECT:
        for key, value in node[3]:
            yield from references(key)
            yield from references(value)
    elif kind == E_BINARY:
        yield from references(node[4])
        yield from references(node[5])
    elif kind == E_UNARY:
        yield from references(node[4])
    elif kind == E_COND:
        for sub in node[3:6]:
            yield from references(sub)


def _static_path(node: tuple) -> tuple[str, ...] | None:
    kind = node[0]
    if kind == E_NAME:
        return (node[3],)
    if kind == E_ATTR:
        inner = _static_path(node[3])
        return inner + (node[4],) if inner is not None else None
    if kind == E_INDEX:
        return _static_path(node[3])
    return None


def function_calls(node: Any) -> Iterator[str]:
    """Names of every function an expression calls."""
    if not isinstance(node, tuple) or not node or not isinstance(node[0], str):
        if isinstance(node, tuple):
            for item in node:
                yield from function_calls(item)
        return
    if node[0] == E_CALL:
        yield node[3]
    for operand in node[3:]:
        if isinstance(operand, tuple):
            yield from function_calls(operand)


# -- evaluation ---------------------------------------------------------------------------------

def is_constant(node: tuple) -> bool:
    """True when an expression is constant text written in the file: no reference, no call."""
    kind = node[0]
    if kind in (E_NAME, E_CALL):
        return False
    if kind == E_LIT:
        return True
    if kind == E_TEMPLATE:
        return all(isinstance(part, str) or is_constant(part) for part in node[3])
    if kind == E_TUPLE:
        return all(is_constant(item) for item in node[3])
    if kind == E_OBJECT:
        return all(is_constant(key) and is_constant(value) for key, value in node[3])
    return all(is_constant(operand) for operand in node[3:] if isinstance(operand, tuple))


def evaluate(node: tuple, scope: Scope) -> Any:
    kind = node[0]
    if kind == E_LIT:
        return node[3]
    if kind == E_TEMPLATE:
        return _template(node, scope)
    if kind == E_NAME:
        root = scope.roots.get(node[3])
        if root is None:
            known = (f"Known names: {', '.join(sorted(scope.roots))}." if scope.roots else
                     "Nothing can be referred to here: write a literal value.")
            raise EvalError("Reference to undeclared name",
                            f'"{node[3]}" is not a known name here. {known}', node[1], node[2])
        return root
    if kind == E_ATTR:
        return _get_attribute(evaluate(node[3], scope), node[4], node[1], node[2])
    if kind == E_INDEX:
        return _index(evaluate(node[3], scope), evaluate(node[4], scope), node[1], node[2])
    if kind == E_TUPLE:
        return [_plain(evaluate(item, scope), item) for item in node[3]]
    if kind == E_OBJECT:
        result: dict[str, Any] = {}
        for key_node, value_node in node[3]:
            key = evaluate(key_node, scope)
            if isinstance(key, (Unknown, Sensitive)) or not isinstance(key, (str, int, float)):
                raise EvalError("Invalid object key", "Object keys must be known strings.",
                                key_node[1], key_node[2])
            result[str(key)] = _plain(evaluate(value_node, scope), value_node)
        return result
    if kind == E_CALL:
        return _call(node, scope)
    if kind == E_BINARY:
        return _binary(node, scope)
    if kind == E_UNARY:
        return _unary(node, scope)
    if kind == E_COND:
        condition = evaluate(node[3], scope)
        wrapped = _wrappers(condition)
        if isinstance(condition, Unknown):
            return condition
        condition = _unwrap(condition)
        if not isinstance(condition, bool):
            raise EvalError("Invalid condition", f"A condition must be true or false, not "
                            f"{_type_name(condition)}.", node[3][1], node[3][2])
        value = evaluate(node[4] if condition else node[5], scope)
        return Sensitive(_unwrap(value)) if wrapped and not isinstance(value, Unknown) else value
    raise EvalError("Unsupported expression", f"Cannot evaluate {kind!r}.", node[1], node[2])


def _plain(value: Any, node: tuple) -> Any:
    if isinstance(value, (ResourceRef,)) or hasattr(value, "lookup"):
        raise EvalError("Invalid value", "A reference to a whole block cannot be used as a value "
                        "here; refer to one of its attributes.", node[1], node[2])
    return value


def _template(node: tuple, scope: Scope) -> Any:
    parts = node[3]
    if len(parts) == 1 and not isinstance(parts[0], str):
        return evaluate(parts[0], scope)             # "${x}" is x itself, not its string form
    pieces: list[str] = []
    sensitive = False
    unknown: Unknown | None = None
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        value = evaluate(part, scope)
        if isinstance(value, Sensitive):
            sensitive = True
            value = value.value
        if isinstance(value, Unknown):
            unknown = unknown or value
            continue
        pieces.append(to_string(value, part))
    if unknown is not None:
        return Unknown(unknown.reason, True) if sensitive and not unknown.sensitive else unknown
    text = "".join(pieces)
    return Sensitive(text) if sensitive else text


def to_string(value: Any, node: tuple | None = None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    line, column = (node[1], node[2]) if node else (0, 0)
    if value is None:
        raise EvalError("Invalid template value", "A null value cannot be used in a string.",
                        line, column)
    raise EvalError("Invalid template value",
                    f"A {_type_name(value)} cannot be used in a string.", line, column)


def _get_attribute(target: Any, name: str, line: int, column: int) -> Any:
    if isinstance(target, Unknown):
        return target
    if isinstance(target, Sensitive):
        inner = _get_attribute(target.value, name, line, column)
        return inner if isinstance(inner, Unknown) else Sensitive(_unwrap(inner))
    if hasattr(target, "lookup"):
        return target.lookup(name, line, column)
    if isinstance(target, ResourceRef):
        return target.namespace.lookup(name, line, column)
    if isinstance(target, dict):
        if name in target:
            return target[name]
        raise EvalError("Unsupported attribute", f'This object has no attribute "{name}".',
                        line, column)
    raise EvalError("Unsupported attribute",
                    f'A {_type_name(target)} has no attribute "{name}".', line, column)


def _index(target: Any, key: Any, line: int, column: int) -> Any:
    if isinstance(target, Unknown):
        return target
    if isinstance(key, Unknown):
        return key
    if isinstance(target, Sensitive) or isinstance(key, Sensitive):
        value = _index(_unwrap(target), _unwrap(key), line, column)
        return value if isinstance(value, Unknown) else Sensitive(_unwrap(value))
    if isinstance(target, list):
        if isinstance(key, str) and key.isdigit():
            key = int(key)
        if not isinstance(key, int) or isinstance(key, bool):
            raise EvalError("Invalid index", "A list index must be a whole number.", line, column)
        if not 0 <= key < len(target):
            raise EvalError("Invalid index", f"Index {key} is out of range for a list of "
                            f"{len(target)} elements.", line, column)
        return target[key]
    if isinstance(target, dict) or hasattr(target, "lookup"):
        return _get_attribute(target, to_string(key), line, column)
    raise EvalError("Invalid index", f"A {_type_name(target)} cannot be indexed.", line, column)


def _call(node: tuple, scope: Scope) -> Any:
    name, arg_nodes = node[3], node[4]
    function = scope.functions.get(name)
    if function is None:
        raise EvalError("Call to unknown function",
                        f'There is no function named "{name}". Functions: '
                        f'{", ".join(sorted(scope.functions))}.', node[1], node[2])
    args = [_plain(evaluate(a, scope), a) for a in arg_nodes]
    for arg in args:
        if isinstance(arg, Unknown):
            return arg
    sensitive = any(_wrappers(a) for a in args)
    # An argument may hold unknown parts ([id, 1]): functions that do not need them still answer
    # (length); for those that do, the call fails and the result is unknown.
    unknown = next((u for u in map(_first_unknown, args) if u is not None), None)
    try:
        result = function(*(_deep_unwrap(a) for a in args))
    except EvalError as exc:
        if unknown is not None:
            return unknown
        if not exc.line:
            exc.line, exc.column = node[1], node[2]
        if sensitive:
            exc.detail = (f"{name}(): the call failed; its details are hidden because an "
                          "argument is sensitive.")
        raise
    except TypeError:
        if unknown is not None:
            return unknown
        usage = FUNCTION_USAGE.get(name, f"{name}(...)")
        raise EvalError("Invalid function arguments",
                        f"{name}() was called with {len(args)} argument"
                        f"{'s' if len(args) != 1 else ''}; call it as {usage}.",
                        node[1], node[2]) from None
    if isinstance(result, Unknown):
        return result
    return Sensitive(result) if sensitive else result


FUNCTION_USAGE = {
    "env": 'env("NAME") or env("NAME", "default")',
    "file": 'file("path/relative/to/config")',
    "format": 'format("%s-%d", "a", 1)',
    "join": 'join(",", ["a", "b"])',
    "lower": 'lower("TEXT")',
    "upper": 'upper("text")',
    "length": "length(string, list or map)",
    "lookup": 'lookup(map, "key") or lookup(map, "key", default)',
    "hash_files": 'hash_files("**/pom.xml", ...)',
    "jsonencode": "jsonencode(value)",
}


def _first_unknown(value: Any) -> Unknown | None:
    if isinstance(value, Unknown):
        return value
    if isinstance(value, Sensitive):
        return _first_unknown(value.value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _first_unknown(item)
            if found is not None:
                return found
    return None


def _binary(node: tuple, scope: Scope) -> Any:
    operator = node[3]
    left, right = evaluate(node[4], scope), evaluate(node[5], scope)
    if operator in ("&&", "||"):
        known_left = _unwrap(left)
        if operator == "&&" and known_left is False or operator == "||" and known_left is True:
            return known_left
    for value in (left, right):
        if isinstance(value, Unknown):
            return value
    sensitive = _wrappers(left) or _wrappers(right)
    a, b = _deep_unwrap(left), _deep_unwrap(right)
    line, column = node[1], node[2]
    try:
        result = _operate(operator, a, b, node)
    except EvalError as exc:
        if sensitive:
            exc.detail = f"The operands of {operator} do not fit; details are hidden because " \
                         "a value is sensitive."
        raise
    return Sensitive(result) if sensitive else result


def _operate(operator: str, a: Any, b: Any, node: tuple) -> Any:
    line, column = node[1], node[2]
    if operator == "==":
        result: Any = _normalise_eq(a) == _normalise_eq(b)
    elif operator == "!=":
        result = _normalise_eq(a) != _normalise_eq(b)
    elif operator in ("&&", "||"):
        for value, sub in ((a, node[4]), (b, node[5])):
            if not isinstance(value, bool):
                raise EvalError("Invalid operand", f"{operator} needs true or false, not "
                                f"{_type_name(value)}.", sub[1], sub[2])
        result = (a and b) if operator == "&&" else (a or b)
    else:
        x, y = _number(a, node[4]), _number(b, node[5])
        if operator == "+":
            result = x + y
        elif operator == "-":
            result = x - y
        elif operator == "*":
            result = x * y
        elif operator == "/":
            if y == 0:
                raise EvalError("Division by zero", "The right-hand side of / is zero.",
                                line, column)
            result = x / y
            if isinstance(result, float) and result.is_integer() and isinstance(x, int) \
                    and isinstance(y, int):
                result = int(result)
        elif operator == "%":
            if y == 0:
                raise EvalError("Division by zero", "The right-hand side of % is zero.",
                                line, column)
            result = x % y
        elif operator == "<":
            result = x < y
        elif operator == ">":
            result = x > y
        elif operator == "<=":
            result = x <= y
        else:
            result = x >= y
    return result


def _unary(node: tuple, scope: Scope) -> Any:
    operator, value = node[3], evaluate(node[4], scope)
    if isinstance(value, Unknown):
        return value
    sensitive = _wrappers(value)
    value = _unwrap(value)
    if sensitive and operator == "-" and not isinstance(value, (int, float)):
        raise EvalError("Invalid operand", "- needs a number; details are hidden because the "
                        "value is sensitive.", node[1], node[2])
    if operator == "!":
        if not isinstance(value, bool):
            raise EvalError("Invalid operand", f"! needs true or false, not {_type_name(value)}.",
                            node[1], node[2])
        result: Any = not value
    else:
        result = -_number(value, node[4])
    return Sensitive(result) if sensitive else result


def parse_number(text: str) -> int | float | None:
    """The number a string spells ("3", "2.5", "1e3"), or None."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def _number(value: Any, node: tuple) -> int | float:
    if isinstance(value, bool):
        raise EvalError("Invalid operand", "A number is required, not a bool.", node[1], node[2])
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and parse_number(value) is not None:
        return parse_number(value)  # type: ignore[return-value]
    raise EvalError("Invalid operand", f"A number is required, not {_type_name(value)} "
                    f"{value!r}." if isinstance(value, str) else
                    f"A number is required, not {_type_name(value)}.", node[1], node[2])


def _normalise_eq(value: Any) -> Any:
    """Values as == compares them: 1 and 1.0 are equal, but true is not 1 (as in HCL)."""
    if isinstance(value, bool):
        return (bool, value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalise_eq(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_eq(v) for v in value]
    return value


def _wrappers(value: Any) -> bool:
    """True when the value is, or contains, a Sensitive value."""
    if isinstance(value, Sensitive):
        return True
    if isinstance(value, dict):
        return any(_wrappers(v) for v in value.values())
    if isinstance(value, list):
        return any(_wrappers(v) for v in value)
    return False


def _unwrap(value: Any) -> Any:
    return value.value if isinstance(value, Sensitive) else value


def _deep_unwrap(value: Any) -> Any:
    value = _unwrap(value)
    if isinstance(value, dict):
        return {k: _deep_unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_unwrap(v) for v in value]
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


type_name = _type_name
deep_unwrap = _deep_unwrap
contains_sensitive = _wrappers

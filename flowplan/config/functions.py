"""The function library available in expressions: env, file, format, join, lower, upper, length,
lookup, hash_files, jsonencode.

Functions receive plain values (the evaluator unwraps sensitive ones and re-wraps the result) and
raise EvalError for user mistakes. Functions that read files resolve paths against a base directory
given when the library is built: the config directory at plan time, the workspace at run time.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Callable

from flowplan.config.expressions import EvalError, parse_number, to_string, type_name

_MISSING = object()
_FORMAT_VERB = re.compile(r"%(%|[-+# 0]*\d*(?:\.\d+)?[sdvqft])")


def build_functions(base_dir: Path, environ: dict[str, str] | None = None) -> dict[str, Callable[..., Any]]:
    environ = environ if environ is not None else dict(os.environ)

    def env(name: str, default: Any = _MISSING) -> Any:
        if name in environ:
            return environ[name]
        if default is not _MISSING:
            return default
        raise EvalError("Environment variable not set",
                        f'env("{name}"): {name} is not set; set it, or give a default: '
                        f'env("{name}", "").')

    def file(path: str) -> str:
        target = (base_dir / path)
        try:
            return target.read_text(encoding="utf-8")
        except OSError as exc:
            raise EvalError("Cannot read file", f'file("{path}"): {exc.strerror or exc}.')

    def hash_files(*patterns: str) -> str:
        digest = hashlib.sha256()
        matched: set[str] = set()
        for pattern in patterns:
            for found in glob.glob(pattern, root_dir=base_dir, recursive=True):
                if (base_dir / found).is_file():
                    matched.add(found)
        if not matched:
            return ""
        for name in sorted(matched):
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.sha256((base_dir / name).read_bytes()).digest())
        return digest.hexdigest()

    return {
        "env": env,
        "file": file,
        "format": format_,
        "join": join,
        "lower": lambda s: _string_arg("lower", s).lower(),
        "upper": lambda s: _string_arg("upper", s).upper(),
        "length": length,
        "lookup": lookup,
        "hash_files": hash_files,
        "jsonencode": jsonencode,
    }


FUNCTION_NAMES = ("env", "file", "format", "join", "lower", "upper", "length", "lookup",
                  "hash_files", "jsonencode")


def format_(spec: str, *args: Any) -> str:
    """Terraform-style format: %s %d %f %t %v %q and %%."""
    values = list(args)

    def substitute(match: re.Match) -> str:
        verb = match.group(1)
        if verb == "%":
            return "%"
        if not values:
            raise EvalError("Invalid function arguments",
                            f'format("{spec}"): not enough arguments for the verbs in the format.')
        value = values.pop(0)
        kind = verb[-1]
        flags = verb[:-1]
        if kind in "sv":
            return ("%" + flags + "s") % to_string(value)
        if kind == "q":
            return json.dumps(to_string(value))
        if kind == "t":
            if not isinstance(value, bool):
                raise EvalError("Invalid function arguments", f"format: %t needs a bool, not "
                                f"{type_name(value)}.")
            return "true" if value else "false"
        if kind == "d":
            return ("%" + flags + "d") % _number_arg("format", value)
        return ("%" + flags + "f") % _number_arg("format", value)

    result = _FORMAT_VERB.sub(substitute, spec)
    if values:
        raise EvalError("Invalid function arguments",
                        f'format("{spec}"): {len(values)} argument(s) more than the format uses.')
    return result


def jsonencode(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise EvalError("Invalid function arguments", f"jsonencode: {exc}.") from None


def join(separator: str, items: Any) -> str:
    if not isinstance(items, list):
        raise EvalError("Invalid function arguments", f"join: the second argument must be a list, "
                        f"not {type_name(items)}.")
    return _string_arg("join", separator).join(to_string(i) for i in items)


def length(value: Any) -> int:
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise EvalError("Invalid function arguments",
                    f"length: needs a string, list or map, not {type_name(value)}.")


def lookup(mapping: Any, key: str, default: Any = _MISSING) -> Any:
    if not isinstance(mapping, dict):
        raise EvalError("Invalid function arguments",
                        f"lookup: the first argument must be a map, not {type_name(mapping)}.")
    if key in mapping:
        return mapping[key]
    if default is not _MISSING:
        return default
    raise EvalError("Invalid function arguments",
                    f'lookup: the map has no key "{key}" and no default was given.')


def _string_arg(function: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return to_string(value)
    raise EvalError("Invalid function arguments",
                    f"{function}: needs a string, not {type_name(value)}.")


def _number_arg(function: str, value: Any) -> int | float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and parse_number(value) is not None:
        return parse_number(value)  # type: ignore[return-value]
    raise EvalError("Invalid function arguments", f"{function}: needs a number, not "
                    f"{type_name(value)}.")

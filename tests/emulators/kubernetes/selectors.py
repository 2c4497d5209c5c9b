"""Label selectors (`app=web,tier!=db,env in (a,b),!legacy,release`) and the field selectors the
emulator supports (`metadata.name`, `metadata.namespace`, `status.phase` with `=`, `==`, `!=`),
parsed as the API server parses them: a malformed selector is a 400 BadRequest."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import ApiError, bad_request

Matcher = Callable[[dict[str, Any]], bool]
_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z")
_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\Z")
_SET = re.compile(r"\s*(\S+?)\s+(in|notin)\s+\((.*)\)\s*\Z")
FIELDS = ("metadata.name", "metadata.namespace", "status.phase")


def _requirements(text: str) -> list[str]:
    """Splits at commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for character in text:
        if character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
        if character == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += character
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _check_key(key: str, selector: str) -> str:
    if not _KEY.match(key) or len(key) > 316:
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in "
                          f"selector {selector!r}")
    return key


def _check_value(value: str, selector: str) -> str:
    if not _VALUE.match(value) or len(value) > 63:
        raise bad_request(f"unable to parse requirement: invalid label value {value!r} in "
                          f"selector {selector!r}")
    return value


def label_selector(text: str) -> Matcher:
    tests: list[Matcher] = []
    for requirement in _requirements(text):
        set_match = _SET.match(requirement)
        if set_match:
            key = _check_key(set_match.group(1), text)
            values = {_check_value(value.strip(), text)
                      for value in set_match.group(3).split(",")}
            inside = set_match.group(2) == "in"
            tests.append(lambda labels, key=key, values=values, inside=inside:
                         (labels.get(key) in values) == inside)
            continue
        for operator in ("!=", "==", "="):
            if operator in requirement:
                key, _, value = requirement.partition(operator)
                key, value = _check_key(key.strip(), text), _check_value(value.strip(), text)
                equal = operator != "!="
                tests.append(lambda labels, key=key, value=value, equal=equal:
                             (labels.get(key) == value) == equal)
                break
        else:
            if requirement.startswith("!"):
                key = _check_key(requirement[1:].strip(), text)
                tests.append(lambda labels, key=key: key not in labels)
            else:
                key = _check_key(requirement, text)
                tests.append(lambda labels, key=key: key in labels)
    return lambda obj: all(test(obj.get("metadata", {}).get("labels") or {}) for test in tests)


def field_selector(text: str) -> Matcher:
    tests: list[Matcher] = []
    for requirement in _requirements(text):
        for operator in ("!=", "==", "="):
            if operator in requirement:
                field, _, value = requirement.partition(operator)
                field, value = field.strip(), value.strip()
                break
        else:
            raise bad_request(f"invalid field selector: {requirement!r}: "
                              "expected FIELD=VALUE or FIELD!=VALUE")
        if field not in FIELDS:
            raise ApiError(400, "BadRequest",
                           f'field label not supported: {field} (the emulator supports '
                           f'{", ".join(FIELDS)})')
        equal = operator != "!="
        tests.append(lambda obj, field=field, value=value, equal=equal:
                     (_field_value(obj, field) == value) == equal)
    return lambda obj: all(test(obj) for test in tests)


def _field_value(obj: dict[str, Any], field: str) -> str:
    section, _, name = field.partition(".")
    return str((obj.get(section) or {}).get(name, ""))

"""Values that are not plain data yet: unknown until apply or run time, or sensitive.

During evaluation flowplan uses the Python objects `Unknown` and `Sensitive`. Wherever values are
persisted or put into a plan (state, plan file, store) they become JSON marker objects instead:

    {"$unknown": "known after apply"}          a value a provider computes on apply
    {"$sensitive": "sha256:SALT:HEX"}          a salted hash of a sensitive value
    {"$deferred": "TEXT", "sensitive": bool}    a pipeline value the run completes: template
                                               text (flowplan.config.partial)

so the state and the plan stay plain JSON, and no sensitive value is written in plaintext.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

UNKNOWN_KEY = "$unknown"
SENSITIVE_KEY = "$sensitive"
DEFERRED_KEY = "$deferred"


@dataclass(frozen=True, slots=True)
class Unknown:
    """A value not known yet; `reason` is what plans print, e.g. 'known after apply'."""

    reason: str = "known after apply"
    sensitive: bool = False            # unknown now, and secret once known

    def marker(self) -> dict:
        return {UNKNOWN_KEY: self.reason}


KNOWN_AFTER_APPLY = Unknown("known after apply")
KNOWN_AT_RUN_TIME = Unknown("known at run time")


@dataclass(frozen=True, slots=True)
class Sensitive:
    """A value that must never be shown or persisted in plaintext."""

    value: Any

    def __repr__(self) -> str:  # never leak through logs or tracebacks
        return "Sensitive(***)"


def is_unknown_marker(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and UNKNOWN_KEY in value


def is_sensitive_marker(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and SENSITIVE_KEY in value


def sensitive_digest(value: Any, salt: str | None = None) -> str:
    """Salted SHA-256 of a sensitive value, as 'sha256:SALT:HEX'."""
    salt = salt if salt is not None else secrets.token_hex(8)
    digest = hashlib.sha256(f"{salt}:{value!r}".encode()).hexdigest()
    return f"sha256:{salt}:{digest}"


def sensitive_matches(marker: dict, value: Any) -> bool:
    """True when `value` hashes to the digest held in a `$sensitive` marker."""
    _, salt, _ = marker[SENSITIVE_KEY].split(":", 2)
    return sensitive_digest(value, salt) == marker[SENSITIVE_KEY]


def to_markers(value: Any, prior: Any = None) -> Any:
    """Turn Unknown/Sensitive objects inside `value` into JSON markers.

    `prior` is the persisted form of the same value, if any: a sensitive value whose hash still
    matches the prior marker keeps that marker (same salt), so unchanged secrets show no diff.
    """
    kind = type(value)
    if kind is dict:
        if type(prior) is dict:
            return {k: to_markers(v, prior.get(k)) for k, v in value.items()}
        return {k: to_markers(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        if type(prior) is list:
            return [to_markers(v, prior[i] if i < len(prior) else None)
                    for i, v in enumerate(value)]
        return [to_markers(v) for v in value]
    if kind is Unknown:
        return value.marker()
    if kind is Sensitive:
        if is_sensitive_marker(prior) and sensitive_matches(prior, value.value):
            return prior
        return {SENSITIVE_KEY: sensitive_digest(value.value)}
    return value


def contains_unknown(value: Any) -> bool:
    """True when `value` is or holds an Unknown object or an `$unknown` marker."""
    kind = type(value)
    if kind is dict:
        if UNKNOWN_KEY in value and len(value) == 1:
            return True
        return any(contains_unknown(v) for v in value.values() if type(v) in _CONTAINERS)
    if kind is list or kind is tuple:
        return any(contains_unknown(v) for v in value if type(v) in _CONTAINERS)
    return kind is Unknown


_CONTAINERS = (dict, list, tuple, Unknown)

"""Kubernetes names and labels: what the API server accepts (DNS labels for namespace names,
qualified label keys and label values), and the label that tracks which step applied an
object (`flowplan.dev/step`), for pruning."""

from __future__ import annotations

import hashlib
import re

STEP_LABEL = "flowplan.dev/step"
STEP_ANNOTATION = "flowplan.dev/step"          # the full step address, when the label is cut

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\Z")
MAX_LABEL = 63


def name_problem(name: str) -> str | None:
    """Why `name` is not a namespace name (an RFC 1123 label), or None."""
    if not isinstance(name, str) or not name:
        return "a namespace name must be non-empty text"
    if len(name) > MAX_LABEL or not _DNS_LABEL.match(name):
        return (f"{name[:80]!r} is not a namespace name: at most 63 lower-case letters, digits "
                "and '-', starting and ending with a letter or digit")
    return None


def label_problem(key: str, value: object) -> str | None:
    """Why `key: value` is not a Kubernetes label, or None."""
    if not isinstance(value, str):
        return f"label {key[:80]!r}: the value must be text"
    prefix, slash, name = key.rpartition("/")
    if not name or len(name) > MAX_LABEL or not _LABEL_NAME.match(name) or \
            (slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))):
        return (f"{key[:80]!r} is not a label key: [PREFIX/]NAME, NAME at most 63 letters, "
                "digits, '-', '_' or '.', starting and ending with a letter or digit")
    if len(value) > MAX_LABEL or not _LABEL_NAME.match(value):
        return (f"label {key!r}: {value[:80]!r} is not a label value (at most 63 letters, "
                "digits, '-', '_' or '.', starting and ending with a letter or digit)")
    return None


def step_label_value(address: str) -> str:
    """A label value naming the step `address` (pipeline.stage.task.step): the address with
    characters a label cannot hold replaced, cut with a digest when longer than 63."""
    text = re.sub(r"[^A-Za-z0-9_.-]", "_", address).strip("_.-") or "step"
    if len(text) <= MAX_LABEL and text == address:
        return text
    digest = hashlib.sha256(address.encode("utf-8")).hexdigest()[:10]
    head = text[:MAX_LABEL - len(digest) - 1].rstrip("_.-")
    return f"{head}-{digest}" if head else digest

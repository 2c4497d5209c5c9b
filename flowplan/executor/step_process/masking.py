"""Masking sensitive values as `***` in log lines, reports and stored records.

`Masker` is built once per run from the run's sensitive values and then applied to every line a
step prints and to every record before it is stored. Besides each value as is, it masks the forms a
value commonly takes on its way into output: shell-quoted, URL-encoded, JSON-escaped, base64, and
for a multi-line value (a private key, a JSON credential) each of its lines.

Which values are sensitive is decided by the config and the run; this module only hides them.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MINIMUM_SECRET_LENGTH = 3


def _forms(secret: str) -> set[str]:
    """The texts under which `secret` may show up in output."""
    raw = secret.encode("utf-8", "surrogateescape")   # a value from the environment may not
    forms = {secret, raw.decode("utf-8", "replace"),  # be UTF-8: logs show it decoded so
             shlex.quote(secret), quote(raw, safe=""), quote_plus(raw, safe=""),
             json.dumps(secret)[1:-1]}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        forms.update((text, text.rstrip("=")))
    if "\n" in secret:
        forms.update(line.strip() for line in secret.splitlines())
    return {form for form in forms if len(form) >= MINIMUM_SECRET_LENGTH}


def _trie_pattern(forms: Iterable[str]) -> str:
    """One regex alternation of `forms`, factored by common prefixes.

    `a(?:bc|d)` instead of `abc|ad`: the regex engine then tests one branch per distinct character
    at each position, about twice as fast as the flat alternation. Optional tails are greedy, so the
    longest form that matches at a position wins.
    """
    trie: dict[str, dict] = {}
    for form in forms:
        node = trie
        for char in form:
            node = node.setdefault(char, {})
        node[""] = {}

    def branch(node: dict) -> str:
        alternatives = []
        for char in sorted(key for key in node if key):
            chain, child = [char], node[char]
            while len(child) == 1 and "" not in child:  # follow a chain without recursion
                (char, child), = child.items()
                chain.append(char)
            alternatives.append(re.escape("".join(chain)) + branch(child))
        if not alternatives:
            return ""
        if "" in node:
            return "(?:" + "|".join(alternatives) + ")?"
        return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"

    return branch(trie)


class Masker:
    """Replaces every sensitive value (and its encoded forms) with `***`.

    The forms of all values are compiled once into one regex, longest match first, so a value that
    contains another is masked whole. Values shorter than 3 characters are ignored: masking every
    "1" or "ab" would ruin logs and hide nothing worth hiding.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= MINIMUM_SECRET_LENGTH:
                forms |= _forms(secret)
        self._pattern = re.compile(_trie_pattern(forms)) if forms else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def mask_value(self, value: Any) -> Any:
        """A copy of nested dict/list/tuple data with every string masked.

        Keys are masked too (a key that is a secret leaks as much as a value); two keys that mask
        alike then collapse into one, which is the lesser harm.
        """
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self.mask_value(key): self.mask_value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.mask_value(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.mask_value(item) for item in value)
        return value

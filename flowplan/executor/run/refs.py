"""Run references: `pipeline#number`, how people and the CLI name a run."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flowplan.executor.errors import InvalidRunRef

MAX_RUN_NUMBER = 2**63 - 1          # the largest integer the store's number column holds
_NUMBER = re.compile(r"[0-9]+")     # ASCII digits only: str.isdigit() also takes "²" and "٣"
_SHOWN = 80                         # characters of a bad reference quoted back
_UNFIT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # control characters, bytes not UTF-8


@dataclass(frozen=True)
class RunRef:
    pipeline: str
    number: int

    def __str__(self) -> str:
        return f"{self.pipeline}#{self.number}"

    @classmethod
    def parse(cls, text: str) -> RunRef:
        text = str(text)
        pipeline, hash_, number = text.rpartition("#")
        digits = number.lstrip("0")
        if not hash_ or not pipeline or not _NUMBER.fullmatch(number) or not digits \
                or _UNFIT.search(pipeline):
            raise InvalidRunRef(f"{_quoted(text)} is not a run: write PIPELINE#NUMBER, "
                                "e.g. app#3")
        # compared as text first: int() refuses more than 4300 digits
        if len(digits) > len(str(MAX_RUN_NUMBER)) or int(digits) > MAX_RUN_NUMBER:
            raise InvalidRunRef(f"{_quoted(text)} is not a run: run numbers go from 1 to "
                                f"{MAX_RUN_NUMBER}")
        return cls(pipeline, int(digits))


def _quoted(text: str) -> str:
    """`text` as repr() quotes it (control characters escaped), cut short when long."""
    return repr(text) if len(text) <= _SHOWN else f"{text[:_SHOWN]!r}... ({len(text)} characters)"

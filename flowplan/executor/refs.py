"""Run references: `pipeline#number`, how people and the CLI name a run."""

from __future__ import annotations

from dataclasses import dataclass

from flowplan.executor.errors import InvalidRunRef


@dataclass(frozen=True)
class RunRef:
    pipeline: str
    number: int

    def __str__(self) -> str:
        return f"{self.pipeline}#{self.number}"

    @classmethod
    def parse(cls, text: str) -> RunRef:
        pipeline, hash_, number = str(text).rpartition("#")
        if not hash_ or not pipeline or not number.isdigit() or int(number) < 1:
            raise InvalidRunRef(f"{text!r} is not a run: write PIPELINE#NUMBER, e.g. app#3")
        return cls(pipeline, int(number))

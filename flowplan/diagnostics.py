"""User mistakes as data: a Diagnostic says what is wrong, where, and about which address.

Core code collects diagnostics instead of raising, so every mistake in a config is reported at
once. Exceptions stay for bugs. Rendering to text lives in flowplan.views.diagnostics_text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Iterator


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Range:
    """A position in a config file: 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    summary: str
    detail: str = ""
    range: Range | None = None
    address: str | None = None

    @classmethod
    def error(cls, summary: str, detail: str = "", range: Range | None = None,
              address: str | None = None) -> "Diagnostic":
        return cls(Severity.ERROR, summary, detail, range, address)

    @classmethod
    def warning(cls, summary: str, detail: str = "", range: Range | None = None,
                address: str | None = None) -> "Diagnostic":
        return cls(Severity.WARNING, summary, detail, range, address)


@dataclass
class Diagnostics:
    """An ordered collection of diagnostics; truthy when it holds any error."""

    items: list[Diagnostic] = field(default_factory=list)
    _error_ranges: set[Range] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self._error_ranges = {d.range for d in self.items
                              if d.range is not None and d.severity is Severity.ERROR}

    def add(self, diagnostic: Diagnostic) -> None:
        """Keep `diagnostic` unless an error was already reported at the same position: one
        mistake found by two checks (the reference check, then evaluation) is shown once."""
        if diagnostic.severity is Severity.ERROR and diagnostic.range is not None:
            if diagnostic.range in self._error_ranges:
                return
            self._error_ranges.add(diagnostic.range)
        self.items.append(diagnostic)

    def error(self, summary: str, detail: str = "", range: Range | None = None,
              address: str | None = None) -> None:
        self.add(Diagnostic.error(summary, detail, range, address))

    def warning(self, summary: str, detail: str = "", range: Range | None = None,
                address: str | None = None) -> None:
        self.add(Diagnostic.warning(summary, detail, range, address))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        for diagnostic in other:
            self.add(diagnostic)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def sorted(self) -> list[Diagnostic]:
        """Diagnostics in file order; those without a position come last."""
        def key(d: Diagnostic):
            if d.range is None:
                return (1, "", 0, 0)
            return (0, d.range.file, d.range.line, d.range.column)
        return sorted(self.items, key=key)


class DiagnosticsError(Exception):
    """Raised by a core entry point when user mistakes stop it; carries every diagnostic."""

    def __init__(self, diagnostics: Diagnostics | Iterable[Diagnostic],
                 texts: dict[str, str] | None = None):
        items = list(diagnostics)
        self.diagnostics = Diagnostics(items)
        self.texts = texts or {}            # file texts by path, to quote offending lines
        first = items[0].summary if items else "invalid configuration"
        super().__init__(first)

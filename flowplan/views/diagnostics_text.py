"""Diagnostics as compiler-style text: `file:line:col: error: summary`, detail, source line, caret.

Collecting diagnostics is flowplan.diagnostics' job and reading config files the loader's: this
module gets the file texts in `sources` and only formats.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from rich.color import ColorSystem
from rich.style import Style

from flowplan.diagnostics import Diagnostic, Severity

SEVERITY_STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow"}
EXCERPT_WIDTH = 120          # characters of a source line shown under a diagnostic


def render_diagnostics(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str],
                       color: bool) -> str:
    """Each diagnostic as a block, blocks separated by a blank line; diagnostics in given order."""
    paint = _ansi if color else _plain
    line_cache: dict[str, list[str]] = {}
    blocks = [_block(d, sources, line_cache, paint) for d in diagnostics]
    return "\n\n".join("\n".join(block) for block in blocks) + ("\n" if blocks else "")


def summary_line(diagnostics: Iterable[Diagnostic]) -> str:
    """E.g. `2 errors, 1 warning`; `no errors or warnings` when empty."""
    items = list(diagnostics)
    errors = sum(d.severity is Severity.ERROR for d in items)
    warnings = len(items) - errors
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts) or "no errors or warnings"


def _block(diagnostic: Diagnostic, sources: Mapping[str, str], line_cache: dict,
           paint) -> list[str]:
    where = f"{diagnostic.range}: " if diagnostic.range else ""
    severity = diagnostic.severity.value
    lines = [paint(where, "bold") + paint(f"{severity}:", SEVERITY_STYLES[diagnostic.severity])
             + " " + paint(diagnostic.summary, "bold")]
    detail = diagnostic.detail
    if diagnostic.address:
        detail = f"{detail} (in {diagnostic.address})" if detail else f"(in {diagnostic.address})"
    lines += ["    " + text for text in detail.splitlines()]
    lines += _excerpt(diagnostic, sources, line_cache, paint)
    return lines


def _excerpt(diagnostic: Diagnostic, sources: Mapping[str, str], line_cache: dict,
             paint) -> list[str]:
    """The offending source line with a caret under the column, when the source is at hand."""
    where = diagnostic.range
    if where is None or where.file not in sources:
        return []
    if where.file not in line_cache:
        line_cache[where.file] = sources[where.file].splitlines()
    file_lines = line_cache[where.file]
    if not 1 <= where.line <= len(file_lines):
        return []
    source_line = file_lines[where.line - 1]
    column = min(max(where.column, 1), len(source_line) + 1)
    if len(source_line) > EXCERPT_WIDTH:
        # a long line (minified, generated) is shown as a window around the column
        start = max(0, min(column - 1 - EXCERPT_WIDTH // 2, len(source_line) - EXCERPT_WIDTH))
        window = source_line[start:start + EXCERPT_WIDTH]
        source_line = ("..." if start else "") + window + (
            "..." if start + EXCERPT_WIDTH < len(source_line) else "")
        column = column - start + (3 if start else 0)
    # keep tabs before the caret so it lines up however the terminal expands them
    pad = "".join(char if char == "\t" else " " for char in source_line[:column - 1])
    number = str(where.line).rjust(5)
    return [f"{number} | {source_line}",
            f"{' ' * len(number)} | {pad}" + paint("^", "bold green")]


def _plain(text: str, style: str) -> str:
    return text


def _ansi(text: str, style: str) -> str:
    if not text or not style:
        return text
    return Style.parse(style).render(text, color_system=ColorSystem.STANDARD)

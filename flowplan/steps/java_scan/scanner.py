"""Finding the Java files of a workspace and running rules over them.

`java_files` walks `sub_folder` of the workspace for `*.java` files, leaving out what the
`exclude` globs match (relative to the workspace: `*` and `?` within one path segment, `**` any
number of segments; a pattern that matches a directory leaves out everything below it), `.git`,
and symlinks leading out of the workspace. `scan` reads each file through `read_file` (no
symlink out of the workspace, regular files only, at most MAX_FILE_BYTES), parses it once with
tree-sitter's Java grammar and runs every rule's query over the one tree. Files it cannot read,
or that are too big, are skipped with a note; a file that does not parse is scanned for what did
parse, with a note. The queries of all the rules are compiled into one, so each tree is walked
once. The language, the parsers (one per thread: tasks run in threads) and the compiled queries
are made once per process.

What the rules are is rules.py's and custom.py's; what the step makes of the findings (log,
SARIF, outputs, status) is step.py's.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

import tree_sitter_java
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

from flowplan.executor.errors import PathEscape
from flowplan.executor.run.layout import inside
from flowplan.steps.java_scan.rules import Finding, Rule

MAX_FILE_BYTES = 1024 * 1024        # a bigger file is skipped with a note
MATCH_LIMIT = 4096                  # matches a query may have in progress at once
MAX_FINDINGS_PER_FILE = 2000        # past this a file's findings are cut, with a note
SKIPPED_DIRECTORIES = {".git", ".hg", ".svn"}


@lru_cache(maxsize=1)
def java() -> Language:
    return Language(tree_sitter_java.language())


@lru_cache(maxsize=512)
def compiled(query: str) -> Query:
    """The query compiled once per process; tree_sitter.QueryError when it is invalid."""
    return Query(java(), query)


_local = threading.local()


def parser() -> Parser:
    found = getattr(_local, "parser", None)
    if found is None:
        found = _local.parser = Parser(java())
    return found


def parse(data: bytes) -> Tree:
    return parser().parse(data)


# -- which files -------------------------------------------------------------------------------

def glob_pattern(pattern: str) -> re.Pattern[str]:
    """A regular expression for a workspace-relative glob: `*` and `?` stay within a path
    segment, `**` spans any number of segments."""
    parts: list[str] = []
    segments = PurePosixPath(pattern.strip("/")).parts if pattern.strip("/") else ()
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:[^/]+/)*")
            continue
        piece = "".join("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
                        for char in segment)
        parts.append(piece if last else piece + "/")
    return re.compile("".join(parts))


@dataclass(frozen=True)
class Excludes:
    patterns: tuple[str, ...] = ()
    compiled: tuple[re.Pattern[str], ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, patterns: Sequence[str]) -> Excludes:
        return cls(tuple(patterns), tuple(glob_pattern(p) for p in patterns))

    def excluded(self, relative: str) -> bool:
        """True when a pattern matches `relative` (posix, workspace-relative) or a directory
        above it."""
        if not self.compiled:
            return False
        parts = relative.split("/")
        candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
        return any(p.fullmatch(c) for p in self.compiled for c in candidates)


def java_files(workspace: Path, root: Path, excludes: Excludes) -> tuple[list[str], list[str]]:
    """Workspace-relative posix paths of the `*.java` files under `root` (a resolved directory
    inside the workspace), sorted, and notes about what was left out and why."""
    real_workspace = Path(os.path.realpath(workspace))
    found: list[str] = []
    notes: list[str] = []
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        relative_directory = Path(directory).relative_to(real_workspace).as_posix()
        prefix = "" if relative_directory == "." else relative_directory + "/"
        subdirectories[:] = sorted(d for d in subdirectories if d not in SKIPPED_DIRECTORIES
                                   and not excludes.excluded(prefix + d))
        for name in sorted(files):
            if not name.endswith(".java"):
                continue
            relative = prefix + name
            if excludes.excluded(relative):
                continue
            full = Path(directory) / name
            if full.is_symlink():
                try:
                    inside(real_workspace, relative, "java file")
                except PathEscape:
                    notes.append(f"skipped {relative}: a symlink leading out of the workspace")
                    continue
            found.append(relative)
    return found, notes


class Unreadable(Exception):
    """A Java file the scan skips; the message says why."""


def read_file(workspace: Path, relative: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a workspace file: Unreadable when it leads out of the workspace, is not a
    regular file, cannot be read or is bigger than `limit`."""
    try:
        path = inside(workspace, relative, "path")
    except PathEscape:
        raise Unreadable("it leads out of the workspace") from None
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc)) from None
    try:
        status = os.fstat(handle)
        if not stat.S_ISREG(status.st_mode):
            raise Unreadable("not a regular file")
        if status.st_size > limit:
            raise Unreadable(f"{status.st_size} bytes, over the limit of {limit}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(handle, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise Unreadable(f"over the limit of {limit} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc)) from None
    finally:
        os.close(handle)


# -- running the rules ----------------------------------------------------------------------------

def column_of(data: bytes, node: Node) -> int:
    """The 1-based column of `node` in characters (tree-sitter counts bytes)."""
    row_start = node.start_byte - node.start_point[1]
    prefix = data[row_start:node.start_byte]
    if prefix.isascii():
        return len(prefix) + 1
    return len(prefix.decode("utf-8", "replace")) + 1


def first_error_line(tree: Tree) -> int | None:
    """The 1-based line of the first syntax error in `tree`, None when it parsed cleanly."""
    if not tree.root_node.has_error:
        return None
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            return node.start_point[0] + 1
        stack.extend(reversed([c for c in node.children if c.has_error or c.is_missing]))
    return tree.root_node.start_point[0] + 1


@dataclass(frozen=True)
class RuleQuery:
    """The queries of several rules compiled as one, so that a file's tree is walked once:
    `owners[i]` is the rule of the query's pattern `i`."""

    query: Query
    owners: tuple[Rule, ...]


@lru_cache(maxsize=64)
def rule_query(rules: tuple[Rule, ...]) -> RuleQuery:
    """One query for all of `rules` (each rule's own query must compile)."""
    owners: list[Rule] = []
    for rule in rules:
        owners.extend([rule] * compiled(rule.query).pattern_count)
    query = Query(java(), "\n".join(rule.query for rule in rules))
    if query.pattern_count != len(owners):          # cannot happen with valid queries
        raise ValueError("the combined query does not line up with its rules")
    return RuleQuery(query, tuple(owners))


def check_source(path: str, data: bytes, rules: Iterable[Rule]) -> tuple[list[Finding], list[str]]:
    """The findings of `rules` in one file's `data` (parsed once, walked once), and notes."""
    tree = parse(data)
    notes: list[str] = []
    error_line = first_error_line(tree)
    if error_line is not None:
        notes.append(f"{path}:{error_line}: does not parse as Java; findings in it may be "
                     "incomplete")
    combined = rule_query(tuple(rules))
    seen: set[tuple[int, int, str, str]] = set()
    findings: list[Finding] = []
    failed: set[str] = set()
    cursor = QueryCursor(combined.query, match_limit=MATCH_LIMIT)
    for pattern, captures in cursor.matches(tree.root_node):
        rule = combined.owners[pattern]
        if rule.id in failed:
            continue
        try:
            for node, message in rule.check(captures):
                key = (node.start_byte, node.end_byte, rule.id, message)
                if key not in seen:
                    seen.add(key)
                    findings.append(Finding(path, node.start_point[0] + 1,
                                            column_of(data, node), rule.id, rule.severity,
                                            message))
        except Exception as exc:  # noqa: BLE001 - one rule on one odd file does not stop a scan
            failed.add(rule.id)
            notes.append(f"{path}: rule {rule.id} stopped: {type(exc).__name__}: {exc}")
        if len(findings) > MAX_FINDINGS_PER_FILE:
            notes.append(f"{path}: more than {MAX_FINDINGS_PER_FILE} findings; the rest are "
                         "left out")
            findings = sorted(findings)[:MAX_FINDINGS_PER_FILE]
            break
    return findings, notes


@dataclass
class Scan:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0                  # files scanned
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None      # why the scan stopped early (canceled, timed out)


def scan(workspace: Path, paths: Sequence[str], rules: Sequence[Rule],
         should_stop: Callable[[], str | None] = lambda: None) -> Scan:
    """Run `rules` over the workspace files `paths`; `should_stop` is asked before each file."""
    result = Scan()
    for relative in paths:
        result.stopped = should_stop()
        if result.stopped is not None:
            break
        try:
            data = read_file(workspace, relative)
        except Unreadable as exc:
            result.notes.append(f"skipped {relative}: {exc}")
            continue
        findings, notes = check_source(relative, data, rules)
        result.findings.extend(findings)
        result.notes.extend(notes)
        result.files += 1
    result.findings.sort()
    return result

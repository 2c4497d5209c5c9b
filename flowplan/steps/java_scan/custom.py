"""A repository's own rule file for `java_code_scan` (`custom_rules`): rules that add to the
built-in ones, and built-in rules it turns off.

```yaml
rules:
  - id: NoSystemExit
    query: |
      (method_invocation object: (identifier) @class name: (identifier) @method
        (#eq? @class "System") (#eq? @method "exit")) @violation
    message: "{class}.{method} ends the whole JVM"
    severity: critical           # blocker, critical or major
    category: custom             # optional
disable: [ClassMustHaveAuthorRule]
```

A rule reports each match of its tree-sitter query at its `@violation` capture (else its first
capture); `{name}` in the message is the text of capture `name`. The file is the repository's, so
it is read as hostile: at most MAX_RULE_FILE_BYTES, inside the workspace (symlinks included),
YAML without aliases (no billion laughs) and without tags other than YAML's own, a schema checked
field by field, each query compiled with its errors reported against the rule's id, and `disable`
of an unknown id refused with the list of known ones. Every problem is collected and reported
together (RuleFileError), never as a traceback. Running the rules is scanner.py's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tree_sitter import QueryError

from flowplan.executor.errors import PathEscape
from flowplan.executor.run.layout import inside
from flowplan.steps.java_scan.rules import BUILTIN_IDS, BUILTIN_RULES, Captures, Rule
from flowplan.steps.java_scan.scanner import Unreadable, compiled, read_file
from flowplan.steps.java_scan.syntax import text

MAX_RULE_FILE_BYTES = 256 * 1024
MAX_RULES = 200
MAX_QUERY_CHARS = 20_000
MAX_YAML_DEPTH = 20
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


class RuleFileError(Exception):
    """The rule file cannot be used; `problems` says every reason."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"custom_rules {path}: " + "; ".join(problems))


class CustomRuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    message: str = Field(min_length=1, max_length=500)
    severity: Literal["blocker", "critical", "major"]
    category: str = Field("custom", pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
    description: str = Field("", max_length=500)


class RuleFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    rules: list[CustomRuleModel] = Field(default_factory=list, max_length=MAX_RULES)
    disable: list[str] = Field(default_factory=list, max_length=len(BUILTIN_IDS) + 10)


@dataclass(frozen=True)
class RuleSet:
    """The rules a scan runs: the built-in ones not disabled, then the custom ones."""

    rules: tuple[Rule, ...]
    custom: tuple[Rule, ...] = ()
    disabled: tuple[str, ...] = ()


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases (the YAML bomb) and deep nesting."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed",
                                              event.start_mark)
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(None, None, "anchors (&name) are not allowed",
                                              event.start_mark)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_yaml(data: bytes) -> object:
    """The YAML document in `data`; ValueError with the reason and line when it is not one."""
    try:
        document = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start})") from None
    try:
        return yaml.load(document, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"not valid YAML{where}: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ValueError(f"not valid YAML: {type(exc).__name__}") from None


def _schema_problems(error: ValidationError, document: object) -> list[str]:
    problems = []
    for item in error.errors():
        location = list(item["loc"])
        where = ".".join(str(part) for part in location)
        if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
            rules = document.get("rules") if isinstance(document, dict) else None
            rule = rules[location[1]] if isinstance(rules, list) and \
                len(rules) > location[1] else None
            if isinstance(rule, dict) and isinstance(rule.get("id"), str):
                where = f"rule {rule['id'][:100]!r}" + \
                    "".join(f".{part}" for part in location[2:])
        message = item["msg"]
        if item["type"] == "literal_error":
            message = "must be one of blocker, critical, major"
        elif item["type"] == "extra_forbidden":
            message = "is not a known key"
        problems.append(f"{where}: {message}" if where else message)
    return problems


def custom_check(message: str):  # type: ignore[no-untyped-def]
    """The check of a custom rule: one finding per match, at `@violation` or the first
    capture, with `{capture}` in the message replaced by the captured text."""

    def check(captures: Captures) -> Iterator[tuple[object, str]]:
        nodes = captures.get("violation") or next(iter(captures.values()), None)
        if not nodes:
            return
        said = PLACEHOLDER.sub(
            lambda m: text(captures[m.group(1)][0], limit=80) if captures.get(m.group(1))
            else m.group(0), message)
        yield nodes[0], said

    return check


def rule_set(workspace: Path | None = None, relative: str | None = None) -> RuleSet:
    """The built-in rules, with the rule file `relative` of the workspace applied when given;
    RuleFileError (every problem) or PathEscape when the file cannot be used."""
    if relative is None or workspace is None:
        return RuleSet(BUILTIN_RULES)
    try:
        inside(workspace, relative, "custom_rules")
    except PathEscape:
        raise RuleFileError(relative, ["leads out of the workspace"]) from None
    try:
        data = read_rule_file(workspace, relative)
        document = parse_yaml(data)
    except (Unreadable, ValueError) as exc:
        raise RuleFileError(relative, [str(exc)]) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise RuleFileError(relative, ["must be a mapping with `rules` and `disable`"])
    try:
        model = RuleFileModel.model_validate(document)
    except ValidationError as exc:
        raise RuleFileError(relative, _schema_problems(exc, document)) from None
    problems: list[str] = []
    custom: list[Rule] = []
    seen: set[str] = set()
    for entry in model.rules:
        if entry.id in BUILTIN_IDS:
            problems.append(f"rule {entry.id!r}: a built-in rule has that id")
            continue
        if entry.id in seen:
            problems.append(f"rule {entry.id!r}: defined twice")
            continue
        seen.add(entry.id)
        try:
            query = compiled(entry.query)
        except QueryError as exc:
            problems.append(f"rule {entry.id!r}: invalid query: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - whatever the binding raises about a query
            problems.append(f"rule {entry.id!r}: invalid query: {type(exc).__name__}: {exc}")
            continue
        if query.capture_count == 0:
            problems.append(f"rule {entry.id!r}: the query captures nothing; mark the node "
                            "to report with @violation")
            continue
        custom.append(Rule(entry.id, entry.category, entry.severity,
                           entry.description or entry.message, entry.query,
                           custom_check(entry.message)))
    unknown = sorted(set(model.disable) - BUILTIN_IDS)
    if unknown:
        problems.append(f"disable: unknown rule id{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(repr(u[:100]) for u in unknown)}; the built-in rules are "
                        f"{', '.join(sorted(BUILTIN_IDS))}")
    if problems:
        raise RuleFileError(relative, problems)
    disabled = tuple(sorted(set(model.disable)))
    kept = tuple(rule for rule in BUILTIN_RULES if rule.id not in disabled)
    return RuleSet(kept + tuple(custom), tuple(custom), disabled)


def read_rule_file(workspace: Path, relative: str) -> bytes:
    """The rule file's bytes (Unreadable when missing, not a file, or too big)."""
    try:
        return read_file(workspace, relative, MAX_RULE_FILE_BYTES)
    except Unreadable as exc:
        raise Unreadable(f"cannot be read: {exc}") from None

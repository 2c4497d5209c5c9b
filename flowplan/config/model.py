"""The config model: what loading a config directory gives the planner, apply and the CLI.

`Config` holds the `flowplan {}` settings, provider blocks, variable values, sources, locals and
one `ResourceConfig` per declared resource, with the file texts for diagnostics. It is plain data:
loading and re-evaluating (flowplan.config.loader) produce new values and never change one that
callers hold, so apply's worker threads can share a Config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from flowplan.config.variables import VariableType
from flowplan.diagnostics import Diagnostics, Range

# Recorded attributes by address (from the state, or planned values), or None.
StateLookup = Callable[[str], "dict[str, Any] | None"]


@dataclass(frozen=True)
class VariableValue:
    name: str
    value: Any
    sensitive: bool
    type: VariableType
    range: Range


@dataclass
class ResourceConfig:
    """One declared resource, evaluated."""

    address: str
    type: str
    name: str
    provider: str
    attributes: dict[str, Any]
    dependencies: list[str]
    range: Range
    attribute_ranges: dict[str, Range] = field(default_factory=dict)
    placeholders: bool = True          # False: attributes are plain JSON (no Unknown/Sensitive)
    # Refers to attributes other resources' providers compute (an id, a URL): the planner
    # evaluates it again with the values planned now, not those of the state it was loaded with.
    reads_computed: bool = False
    # Where nested blocks and their attributes are, by dotted path ("host.web1.private_key"):
    # asked only for a diagnostic, so the loader hands over a lookup rather than a table.
    nested_range: Callable[[str], "Range | None"] | None = field(default=None, repr=False,
                                                                  compare=False)
    # Top-level attributes written as constant text (no reference, no function call): a
    # provider refuses a secret written into the file (ValidateRequest.literal).
    literal: frozenset[str] = frozenset()

    def attribute_range(self, name: str | None) -> Range:
        """Where an attribute is set, or the block when not set. `name` is a top-level name or a
        dotted path into nested blocks (`host.web1.private_key`, `host.web1`): the deepest part
        of it that the config sets."""
        if not name:
            return self.range
        if "." in name and self.nested_range is not None:
            found = self.nested_range(name)
            if found is not None:
                return found
        return self.attribute_ranges.get(name.split(".", 1)[0], self.range)


@dataclass(frozen=True)
class ProviderSource:
    """Where a `provider "NAME" {}` block is written, and which of its attributes are constant
    text (no reference, no function call)."""

    range: Range
    attribute_ranges: dict[str, Range] = field(default_factory=dict)
    literal: frozenset[str] = frozenset()

    def attribute_range(self, name: str | None) -> Range:
        if name:
            return self.attribute_ranges.get(name.split(".", 1)[0], self.range)
        return self.range


@dataclass
class Config:
    directory: Path
    settings: dict[str, Any]
    providers: dict[str, dict[str, Any]]
    variables: dict[str, VariableValue]
    sources: dict[str, dict[str, Any]]
    resources: dict[str, ResourceConfig]
    texts: dict[str, str]                      # file text by display path, for diagnostics
    diagnostics: Diagnostics
    locals: dict[str, Any] = field(default_factory=dict)
    # What flowplan.config.loader.reevaluate needs to evaluate a resource again (the parsed
    # declarations and the scope's values); opaque to everyone else, never changed.
    evaluation: Any = field(default=None, repr=False, compare=False)
    provider_sources: dict[str, ProviderSource] = field(default_factory=dict)
    team: str = "default"           # whose state, store rows and NAME.fpvars (flowplan.teams)

    def resource(self, address: str) -> ResourceConfig | None:
        return self.resources.get(address)

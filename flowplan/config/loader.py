"""Loading a config: all `*.hcl` files of one directory, evaluated into a `Config`.

Steps: parse every file (cached), index the top-level blocks, resolve input variables, find every
reference and check it names something declared, reject reference cycles, then evaluate sources,
locals and resources in dependency order. Every user mistake becomes a diagnostic with file, line
and column; loading goes on after a mistake so that all of them are reported together.

Resource types, their block models, computed attributes and default providers come from the
installed providers' schemas (flowplan.config.resource_types); a block whose provider is missing
gets one error. Resource attributes that a provider computes (ids, URLs) are taken from the state
when a `state_attributes` lookup is given and the state has them, and are unknown otherwise.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from flowplan import teams
from flowplan.config import files as config_files_module
from flowplan.config.expressions import (EvalError, Names, ResourceRef, Scope, evaluate,
                                         is_constant, references)
from flowplan.config.functions import build_functions
from flowplan.config.model import (Config, ProviderSource, ResourceConfig, StateLookup,
                                   VariableValue)
from flowplan.config.partial import Folder, holds_deferred
from flowplan.config.pipeline import (pipeline_definition, task_order_problems,
                                      unusable_file_name)
from flowplan.config.resource_types import ResourceTypes, Served, Unserved
from flowplan.config.schema import META_ARGUMENTS, Decoder, Settings, Source, fields_of
from flowplan.config.steps import step_models
from flowplan.config.syntax import E_ATTR, E_NAME, E_TUPLE, Attribute, Block, Body, FileSyntax
from flowplan.config.variables import (ANY, ENV_PREFIX, convert,
                                       environment_values, from_text, parse_type)
from flowplan.diagnostics import Diagnostics, Range
from flowplan.graph import Graph
from flowplan.providers import ProviderRegistry
from flowplan.values import (KNOWN_AFTER_APPLY, KNOWN_AT_RUN_TIME, Sensitive, Unknown,
                             contains_unknown)

CORE_BLOCKS = ("flowplan", "provider", "variable", "locals", "source")   # and resource types
RUN_TIME_ROOTS = ("run", "steps")
PATH_ROOT = "path"          # path.config: the config directory; path.cwd: the working directory


class StateLookupFactory:
    """Makes the state lookup once the settings (and so the state's location) are known."""

    def __init__(self, make: Callable[[dict], StateLookup]):
        self.make = make

    def __call__(self, settings: dict) -> StateLookup:
        return self.make(settings)


@dataclass
class _Declared:
    kind: str                                   # "local", "source", "resource", "variable"
    address: str
    path: str
    line: int
    column: int
    block: Block | None = None
    attribute: Attribute | None = None


def load_config(directory: Path | str, variables: dict[str, str] | None = None,
                environ: dict[str, str] | None = None,
                state_attributes: "StateLookup | StateLookupFactory | None" = None,
                use_cache: bool = True, registry: ProviderRegistry | None = None,
                team: str | None = None) -> Config:
    """Load and evaluate the config in `directory`; problems are in `Config.diagnostics`.

    `team` (default: the selected one, flowplan.teams.selected_team) is whose variable values
    (`NAME.fpvars`) are read, and what `Config.team` says; a selection naming no team here is
    an error diagnostic of the `flowplan` settings.

    `state_attributes` gives recorded attributes by address; a StateLookupFactory makes that
    lookup from the `flowplan {}` settings, which name the state's location. The resource types
    are those of the providers in `registry` (by default, the installed ones).
    """
    types = ResourceTypes(registry if registry is not None else ProviderRegistry())
    return _Loader(Path(directory), variables or {}, dict(os.environ) if environ is None
                   else environ, state_attributes, use_cache, types, team).load()


def load_variables(directory: Path | str, names: Iterable[str], given: dict[str, str],
                   environ: dict[str, str] | None = None, team: str | None = None
                   ) -> tuple[dict[str, VariableValue], set[str], Diagnostics]:
    """Values of the variables `names` alone, from the config's variable blocks, `*.auto.fpvars`,
    `given` (as --var) and FP_VAR_* in `environ`, later winning; with the names the config
    declares and the problems found about `names`. The rest of the config is not evaluated, so
    a run can resolve the sensitive values it needs when the working copy is broken elsewhere.
    """
    loader = _Loader(Path(directory), {}, dict(os.environ) if environ is None else environ,
                     None, True, ResourceTypes(ProviderRegistry()), team)
    wanted = set(names)
    problems = Diagnostics()
    paths = config_files_module.config_files(loader.directory) \
        if loader.directory.is_dir() else []
    sources = config_files_module.read_sources(paths)
    for syntax in config_files_module.parse_sources(sources, loader.directory):
        loader._index(syntax)
    loader.cli_variables = {k: v for k, v in given.items() if k in loader.variable_blocks}
    loader._resolve_variables()
    problems.extend(d for d in loader.diagnostics
                    if d.address in {f"var.{name}" for name in wanted})
    values = {name: value for name, value in loader.values.items() if name in wanted}
    return values, set(loader.variable_blocks), problems


def reevaluate(config: Config, address: str, state_attributes: StateLookup
               ) -> tuple[ResourceConfig, Diagnostics]:
    """Resource `address` of `config` evaluated again, with computed attributes of other
    resources from `state_attributes`, and the problems found; `config` is left as it was.

    The planner and apply use this for a resource whose config referred to values only known
    once its dependencies are planned or applied (an id, a URL).
    """
    loader = copy.copy(config.evaluation)
    loader.state_attributes = state_attributes
    loader.diagnostics = Diagnostics()
    loader.resources = dict(config.resources)
    loader._scopes = {}
    loader.reads_computed = set()
    loader._evaluate_resource(loader.declared[address], step_models())
    return loader.resources[address], loader.diagnostics


class _Loader:
    def __init__(self, directory: Path, cli_variables: dict[str, str], environ: dict[str, str],
                 state_attributes: StateLookup | None, use_cache: bool, types: ResourceTypes,
                 team: str | None = None):
        self.directory = directory
        self.types = types
        self.served: dict[str, Served] = {}         # resource address -> its provider and schema
        self.cli_variables = cli_variables
        self.environ = environ
        self.state_attributes = state_attributes
        self.use_cache = use_cache
        self.diagnostics = Diagnostics()
        self.team = self._team(team)
        self.texts: dict[str, str] = {}
        self.declared: dict[str, _Declared] = {}
        self.settings_block: tuple[str, Block] | None = None
        self.provider_blocks: dict[str, tuple[str, Block]] = {}
        self.variable_blocks: dict[str, tuple[str, Block]] = {}
        self.local_attributes: dict[str, tuple[str, Attribute]] = {}
        self.source_blocks: dict[str, tuple[str, Block]] = {}
        self.resource_blocks: dict[str, tuple[str, Block]] = {}
        self.values: dict[str, VariableValue] = {}
        self.sensitive_names: set[str] = set()
        self.evaluating: str | None = None              # the resource being evaluated
        self.reads_computed: set[str] = set()           # resources using computed attributes
        self.unset_secrets: dict[str, Range] = {}       # sensitive variables without a value
        self.local_values: dict[str, Any] = {}
        self.source_values: dict[str, Any] = {}
        self.resources: dict[str, ResourceConfig] = {}
        self.functions = build_functions(directory, environ)
        self.run_time_functions = dict(self.functions)
        self.run_time_functions["hash_files"] = lambda *patterns: KNOWN_AT_RUN_TIME
        self._scopes: dict[bool, Scope] = {}
        self._tainted_locals: set[str] | None = None
        self._references: dict[str, list[tuple[tuple[str, ...], int, int]]] = {}

    # -- driver --------------------------------------------------------------------------------

    def load(self) -> Config:
        if not self.directory.is_dir():
            self.diagnostics.error("No such config directory", f"{self.directory} is not a "
                                   "directory.")
            return self._result({})
        paths = config_files_module.config_files(self.directory)
        if not paths:
            self.diagnostics.error("No configuration files",
                                   f"{self.directory} has no *.hcl files.")
            return self._result({})
        sources = config_files_module.read_sources(paths)
        self.texts = {s.path: s.text for s in sources}
        cache_root = self.directory if self.use_cache else None
        for syntax in config_files_module.parse_sources(sources, cache_root):
            self.diagnostics.extend(syntax.diagnostics)
            self._index(syntax)
        self._report_plugin_failures()
        settings = self._settings()
        if isinstance(self.state_attributes, StateLookupFactory):
            self.state_attributes = self.state_attributes(settings)
        self._resolve_variables()
        order = self._check_references()
        self._check_provider_references()
        self._check_unset_secrets()
        self._evaluate(order)
        providers = self._providers()
        return self._result(settings, providers)

    def _result(self, settings: dict[str, Any], providers: dict | None = None) -> Config:
        return Config(self.directory, settings or Settings().model_dump(), providers or {},
                      self.values, self.source_values, dict(self.resources), self.texts,
                      self.diagnostics, self.local_values, self, self._provider_sources(),
                      team=self.team)

    def _team(self, team: str | None) -> str:
        """The team given, else the selected one; `default` (with an error) when the
        selection names none here."""
        try:
            if team is not None:
                return teams.check_name(team)
            if not self.directory.is_dir():
                return teams.DEFAULT_TEAM
            return teams.selected_team(self.directory, self.environ)
        except teams.TeamError as error:
            self.diagnostics.error("Unknown team", str(error), None, "flowplan")
            return teams.DEFAULT_TEAM

    # -- indexing ------------------------------------------------------------------------------

    def _index(self, syntax: FileSyntax) -> None:
        path = syntax.path
        top_level = (*CORE_BLOCKS, *self.types.names)
        for attribute in syntax.body.attributes.values():
            self._error(path, attribute.line, attribute.column, "Unexpected argument",
                        f'"{attribute.name}" cannot be set at the top level; top-level blocks: '
                        f"{', '.join(top_level)}.")
        for block in syntax.body.blocks:
            kind = block.type
            if kind not in CORE_BLOCKS and not self.types.is_declarable(kind):
                import difflib
                close = difflib.get_close_matches(kind, (*CORE_BLOCKS, *self.types.declarable),
                                                  n=1)
                hint = f' Did you mean "{close[0]}"?' if close else ""
                self._error(path, block.line, block.column, "Unsupported block type",
                            f'There is no block type "{kind}".{hint} Top-level blocks: '
                            f"{', '.join(top_level)}.")
                continue
            want = 0 if kind in ("flowplan", "locals") else 1
            if len(block.labels) != want:
                example = f"{kind} {{ ... }}" if want == 0 else f'{kind} "NAME" {{ ... }}'
                self._error(path, block.line, block.column, "Wrong number of block labels",
                            f"Write {example}.")
                continue
            if kind == "flowplan":
                if self.settings_block is not None:
                    first = self.settings_block[1]
                    self._error(path, block.line, block.column, "Duplicate flowplan block",
                                f"The settings were already given at {self.settings_block[0]}:"
                                f"{first.line}; keep one flowplan block.")
                    continue
                self.settings_block = (path, block)
            elif kind == "locals":
                for attribute in block.body.attributes.values():
                    self._declare("local", f"local.{attribute.name}", path, attribute.line,
                                  attribute.column, attribute=attribute)
                    self.local_attributes.setdefault(attribute.name, (path, attribute))
                for nested in block.body.blocks:
                    self._error(path, nested.line, nested.column, "Unsupported block type",
                                "A locals block holds only NAME = VALUE arguments.")
            elif kind == "provider":
                name = block.labels[0]
                if name in self.provider_blocks:
                    earlier = self.provider_blocks[name]
                    self._error(path, block.line, block.column, "Duplicate provider block",
                                f'Provider "{name}" was already configured at {earlier[0]}:'
                                f"{earlier[1].line}.")
                    continue
                self.provider_blocks[name] = (path, block)
            elif kind == "variable":
                if self._declare("variable", f"var.{block.labels[0]}", path, block.line,
                                 block.column, block=block):
                    self.variable_blocks[block.labels[0]] = (path, block)
            elif kind == "source":
                if self._declare("source", f"source.{block.labels[0]}", path, block.line,
                                 block.column, block=block):
                    self.source_blocks[block.labels[0]] = (path, block)
            else:
                address = f"{kind}.{block.labels[0]}"
                if self._declare("resource", address, path, block.line, block.column,
                                 block=block):
                    self.resource_blocks[address] = (path, block)
                    self._serve(path, block, address)

    def _declare(self, kind: str, address: str, path: str, line: int, column: int,
                 block: Block | None = None, attribute: Attribute | None = None) -> bool:
        name = address.split(".", 1)[1]
        if not _NAME.match(name):
            if block is not None and block.label_positions:
                line, column = block.label_positions[0]
            self._error(path, line, column, "Invalid name",
                        f'"{name}" cannot be referred to as {address}: a name starts with a letter '
                        "or _ and holds only letters, digits, _ and -.", address)
            return False
        earlier = self.declared.get(address)
        if earlier is not None:
            self._error(path, line, column, "Duplicate name",
                        f"{address} is already declared at {earlier.path}:{earlier.line}; "
                        "names must be unique.", address)
            return False
        self.declared[address] = _Declared(kind, address, path, line, column, block, attribute)
        return True

    def _error(self, path: str, line: int, column: int, summary: str, detail: str,
               address: str | None = None) -> None:
        self.diagnostics.error(summary, detail, Range(path, line, column), address)

    def _serve(self, path: str, block: Block, address: str) -> None:
        """Find the provider serving a resource block (its `provider = "NAME"`, else the
        type's default); a block no installed provider serves gets one error and is not
        evaluated."""
        provider = None
        line, column = block.line, block.column
        attribute = block.body.attributes.get("provider")
        if attribute is not None:
            try:
                value = evaluate(attribute.expr, Scope({}, {}))
            except EvalError:
                value = None
            if not isinstance(value, str) or not value:
                self._error(path, attribute.expr[1], attribute.expr[2], "Invalid value",
                            'provider = "NAME" takes the name of a provider as a string.',
                            address)
                return
            provider = value
            line, column = attribute.expr[1], attribute.expr[2]
        found = self.types.serve(block.type, address, provider)
        if isinstance(found, Unserved):
            self._error(path, line, column, found.summary, found.detail, address)
            return
        self.served[address] = found

    def _report_plugin_failures(self) -> None:
        """Providers and step types that failed to load: warnings, since a config that needs
        none of them still works; the blocks and steps that need one get their own error."""
        for problem in self.types.problems():
            self.diagnostics.warning(problem.summary, problem.detail)
        for failure in step_models().failures.values():
            self.diagnostics.warning(failure.summary, failure.detail)

    # -- settings and providers ----------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        if self.settings_block is None:
            return Settings().model_dump()
        path, block = self.settings_block
        decoder = Decoder(path, self.diagnostics, "flowplan")
        scope = Scope({}, self.functions)
        settings = decoder.decode(block.body, Settings, scope, "the flowplan block",
                                  (block.line, block.column))
        if settings.get("executor") == "celery" and not settings.get("broker") \
                and "broker" not in block.body.attributes:
            self.diagnostics.error(
                "Missing broker", 'executor = "celery" needs the broker\'s address: '
                'broker = "redis://HOST:6379/0" in the flowplan block.',
                Range(path, block.line, block.column), "flowplan")
        interval = settings.get("heartbeat_interval")
        timeout = settings.get("heartbeat_timeout")
        if isinstance(interval, (int, float)) and isinstance(timeout, (int, float)) \
                and timeout < 2 * interval:
            attribute = (block.body.attributes.get("heartbeat_timeout")
                         or block.body.attributes.get("heartbeat_interval"))
            where = (attribute.line, attribute.column) if attribute is not None else (
                block.line, block.column)
            self.diagnostics.error(
                "Invalid value", f"heartbeat_timeout ({timeout:g} s) must be at least twice "
                f"heartbeat_interval ({interval:g} s): a worker beating on time would otherwise "
                "be taken for lost.", Range(path, *where), "flowplan")
        return settings

    def _providers(self) -> dict[str, dict[str, Any]]:
        configs: dict[str, dict[str, Any]] = {}
        scope = self._scope(pipeline=False)
        for name, (path, block) in self.provider_blocks.items():
            values: dict[str, Any] = {}
            for attr_name, attribute in block.body.attributes.items():
                try:
                    values[attr_name] = evaluate(attribute.expr, scope)
                except EvalError as exc:
                    self._error(path, exc.line or attribute.line, exc.column or attribute.column,
                                exc.summary, exc.detail, f"provider.{name}")
            configs[name] = values
        return configs

    def _provider_sources(self) -> dict[str, ProviderSource]:
        return {name: ProviderSource(
                    Range(path, block.line, block.column),
                    {n: Range(path, a.line, a.column) for n, a in block.body.attributes.items()},
                    frozenset(n for n, a in block.body.attributes.items() if is_constant(a.expr)))
                for name, (path, block) in self.provider_blocks.items()}

    # -- variables -----------------------------------------------------------------------------

    def _resolve_variables(self) -> None:
        file_values = self._variable_file_values()
        env_values = environment_values(self.environ)
        for name in self.cli_variables:
            if name not in self.variable_blocks:
                self.diagnostics.error("Value for undeclared variable",
                                       f'--var {name}=...: no variable "{name}" is declared.')
        for name, (path, block) in self.variable_blocks.items():
            attributes = block.body.attributes
            for attr_name, attribute in attributes.items():
                if attr_name not in fields_of_variable():
                    self._error(path, attribute.line, attribute.column, "Unsupported argument",
                                f'variable "{name}" has no argument "{attr_name}".'
                                f"{_did_you_mean(attr_name, fields_of_variable())} Arguments: "
                                f"{', '.join(fields_of_variable())}.", f"var.{name}")
            constraint = ANY
            if "type" in attributes:
                try:
                    constraint = parse_type(attributes["type"].expr)
                except EvalError as exc:
                    self._error(path, exc.line, exc.column, exc.summary, exc.detail, f"var.{name}")
            sensitive = self._literal(path, attributes.get("sensitive"), False, bool, name)
            where = Range(path, block.line, block.column)
            value: Any = _MISSING
            origin = ""
            try:
                if "default" in attributes:
                    origin = "default"
                    value = convert(self._literal(path, attributes["default"], None, None, name),
                                    constraint)
                if name in file_values:
                    origin = "a *.auto.fpvars file"
                    value = convert(file_values[name], constraint)
                if name in self.cli_variables:
                    origin = "--var"
                    value = from_text(self.cli_variables[name], constraint)
                if name in env_values:
                    origin = f"{ENV_PREFIX}{name}"
                    value = from_text(env_values[name], constraint)
            except ValueError as exc:
                problem = (f"the value does not fit type {constraint} (not shown: the variable "
                           "is sensitive)" if sensitive else str(exc))
                self.diagnostics.error("Invalid value for variable",
                                       f'var.{name} (from {origin}): {problem}.', where,
                                       f"var.{name}")
                value = _MISSING
                continue
            if value is _MISSING and sensitive:
                # A run resolves it (e.g. from a store secret); only blocks that need its value
                # now make it required (_check_unset_secrets).
                self.sensitive_names.add(name)
                self.unset_secrets[name] = where
                continue
            if value is _MISSING:
                self.diagnostics.error(
                    "No value for required variable",
                    f'var.{name} has no default; give it with --var {name}=VALUE, the '
                    f"environment variable {ENV_PREFIX}{name}, or a *.auto.fpvars file"
                    + (f"; for `flowplan run`, also with `flowplan secret set {name}`."
                       if sensitive else "."),
                    where, f"var.{name}")
                continue
            if sensitive:
                self.sensitive_names.add(name)
            self.values[name] = VariableValue(name, value, bool(sensitive), constraint, where)

    def _check_unset_secrets(self) -> None:
        """A sensitive variable without a value is an error where its value is needed now: in
        any block but a pipeline (whose runs resolve it), also through locals."""
        if not self.unset_secrets:
            return
        users = [d for d in self.declared.values()
                 if d.kind in ("resource", "source") and not d.address.startswith("pipeline.")]
        users += [_Declared("provider", f"provider.{name}", path, block.line, block.column, block)
                  for name, (path, block) in self.provider_blocks.items()]
        reported: set[str] = set()
        for user in users:
            for target in sorted(self._reached(user)):
                name = target[4:] if target.startswith("var.") else None
                if name in self.unset_secrets and name not in reported:
                    reported.add(name)
                    self.diagnostics.error(
                        "No value for required variable",
                        f"var.{name} has no default; {user.address} needs its value now. Give "
                        f"it with the environment variable {ENV_PREFIX}{name}, --var "
                        f"{name}=VALUE or a *.auto.fpvars file (runs of pipelines also read "
                        f"`flowplan secret set {name}`).", self.unset_secrets[name],
                        f"var.{name}")

    def _variable_file_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        paths = config_files_module.variable_files(self.directory)
        team_file = teams.variable_file(self.directory, self.team)
        if team_file.is_file():             # after *.auto.fpvars: the team's values win
            paths.append(team_file)
        if not paths:
            return values
        sources = config_files_module.read_sources(paths)
        cache_root = self.directory if self.use_cache else None
        plain = frozenset(name for name, (_path, block) in self.variable_blocks.items()
                          if not _declared_sensitive(block))
        for source, syntax in zip(sources, config_files_module.parse_sources(sources, cache_root,
                                                                             plain)):
            self.texts[source.path] = source.text
            self.diagnostics.extend(syntax.diagnostics)
            for block in syntax.body.blocks:
                self._error(syntax.path, block.line, block.column, "Unexpected block",
                            "A variables file holds only NAME = VALUE lines.")
            for name, attribute in syntax.body.attributes.items():
                if name not in self.variable_blocks:
                    self.diagnostics.warning(
                        "Value for undeclared variable",
                        f'{syntax.path} sets "{name}", but no variable "{name}" is declared; the '
                        f"value is ignored.{_did_you_mean(name, self.variable_blocks)}",
                        Range(syntax.path, attribute.line, attribute.column))
                    continue
                values[name] = self._literal(syntax.path, attribute, None, None, name)
        return values

    def _literal(self, path: str, attribute: Attribute | None, default: Any,
                 expected: type | None, variable: str) -> Any:
        """A value that may not refer to anything: variable defaults and settings."""
        if attribute is None:
            return default
        try:
            value = evaluate(attribute.expr, Scope({}, self.functions))
        except EvalError as exc:
            detail = exc.detail
            if exc.summary == "Reference to undeclared name":
                detail = "This value must be a literal: it cannot refer to other names."
            self._error(path, exc.line or attribute.line, exc.column or attribute.column,
                        exc.summary, detail, f"var.{variable}")
            return default
        if expected is not None and not isinstance(value, expected):
            self._error(path, attribute.expr[1], attribute.expr[2], "Invalid value",
                        f'"{attribute.name}" must be a {expected.__name__}.', f"var.{variable}")
            return default
        return value

    # -- references ----------------------------------------------------------------------------

    def _check_references(self) -> list[str]:
        """Check every reference; return the evaluation order (without cycles' members)."""
        graph = Graph()
        for address, declared in self.declared.items():
            if declared.kind == "variable":
                continue
            graph.add_node(address)
            pipeline = declared.kind == "resource" and address.startswith("pipeline.")
            for path_names, line, column in self._references_of(declared):
                target = self._reference_target(declared, path_names, line, column, pipeline)
                if target is not None and target in self.declared \
                        and self.declared[target].kind != "variable":
                    graph.add_edge(address, target)
        problems = graph.cycles()
        for cycle in problems:
            first = self.declared[cycle[0]]
            self._error(first.path, first.line, first.column, "Reference cycle",
                        "These refer to each other in a cycle: "
                        + " -> ".join(cycle + [cycle[0]]) + ".", cycle[0])
        if not problems:
            return graph.topological_order()
        # Still evaluate everything else, so its mistakes are reported too: the cycle's members
        # and what depends on them are left out.
        in_cycle = {member for cycle in problems for member in cycle}
        acyclic = Graph()
        for address in graph.nodes:
            acyclic.add_node(address)
            for dependency in graph.dependencies(address):
                if address not in in_cycle and dependency not in in_cycle:
                    acyclic.add_edge(address, dependency)
        blocked = set(in_cycle)
        for address in acyclic.topological_order():
            if any(d in blocked for d in graph.dependencies(address)):
                blocked.add(address)
        return [a for a in acyclic.topological_order() if a not in blocked]

    def _reached(self, declared: _Declared) -> set[str]:
        """Every address (resource, local, variable) this declaration refers to, also through
        locals: a resource using local.x depends on what local.x uses."""
        found: set[str] = set()
        queue = [declared]
        seen_locals: set[str] = set()
        while queue:
            current = queue.pop()
            for names, _line, _column in self._references_of(current):
                if len(names) < 2:
                    continue
                target = f"{names[0]}.{names[1]}"
                found.add(target)
                if names[0] == "local" and target not in seen_locals and target in self.declared:
                    seen_locals.add(target)
                    queue.append(self.declared[target])
        return found

    def _resources_reached(self, declared: _Declared) -> list[str]:
        return sorted(a for a in self._reached(declared) if a in self.resource_blocks)

    def _check_provider_references(self) -> None:
        for name, (path, block) in self.provider_blocks.items():
            declared = _Declared("provider", f"provider.{name}", path, block.line, block.column,
                                 block)
            for names, line, column in _body_references(block.body):
                self._reference_target(declared, names, line, column, pipeline=False)

    def _references_of(self, declared: _Declared) -> list[tuple[tuple[str, ...], int, int]]:
        found = self._references.get(declared.address)
        if found is None:
            if declared.attribute is not None:
                found = list(references(declared.attribute.expr))
            else:
                assert declared.block is not None
                found = list(_body_references(declared.block.body))
            self._references[declared.address] = found
        return found

    def _reference_target(self, declared: _Declared, names: tuple[str, ...], line: int,
                          column: int, pipeline: bool) -> str | None:
        root = names[0]
        if root in RUN_TIME_ROOTS:
            if not pipeline:
                self._error(declared.path, line, column, "Run-time value outside a pipeline",
                            f"{'.'.join(names)} is only known while a pipeline runs; it can be "
                            "used inside pipeline blocks only.", declared.address)
            return None
        if root in ("var", "local", "source") or self.types.is_declarable(root):
            if len(names) < 2:
                self._error(declared.path, line, column, "Invalid reference",
                            f'"{root}" needs a name after it, like {root}.NAME.', declared.address)
                return None
            prefix = {"var": "var", "local": "local", "source": "source"}.get(root, root)
            target = f"{prefix}.{names[1]}"
            if target not in self.declared:
                what = {"var": "input variable", "local": "local value",
                        "source": "source"}.get(root, "resource")
                self._error(declared.path, line, column, f"Reference to undeclared {what}",
                            f"{target} is not declared.{self._close_names(prefix, names[1])}",
                            declared.address)
                return None
            return target
        if root in self._type_names():
            return None                         # `type = string` in variable blocks
        if root == PATH_ROOT:
            if len(names) < 2 or names[1] not in ("config", "cwd"):
                self._error(declared.path, line, column, "Invalid reference",
                            "path.config (the config directory) and path.cwd (the working "
                            "directory) are the known paths.", declared.address)
            return None
        self._error(declared.path, line, column, "Reference to undeclared name",
                    f'"{root}" is not a known name. References start with var., local., '
                    f"source., run., steps. or a resource type.", declared.address)
        return None

    @staticmethod
    def _type_names() -> tuple[str, ...]:
        return ("string", "number", "bool", "any")

    def _close_names(self, prefix: str, name: str) -> str:
        import difflib
        candidates = [a.split(".", 1)[1] for a in self.declared if a.startswith(prefix + ".")]
        close = difflib.get_close_matches(name, candidates, n=1)
        return f' Did you mean {prefix}.{close[0]}?' if close else ""

    # -- evaluation ----------------------------------------------------------------------------

    def _local_expression(self, name: str) -> tuple | None:
        found = self.local_attributes.get(name)
        return found[1].expr if found is not None else None

    def _scope(self, pipeline: bool) -> Scope:
        """The names an expression can use; built once per kind (pipeline or not)."""
        cached = self._scopes.get(pipeline)
        if cached is None:
            cached = self._scopes[pipeline] = self._new_scope(pipeline)
        return cached

    def _new_scope(self, pipeline: bool) -> Scope:
        roots: dict[str, Any] = {
            "var": _VariableNamespace(self.values, self.variable_blocks, self.sensitive_names,
                                      pipeline),
            # a name that failed to evaluate has its own diagnostic: stay quiet here
            "local": Names("local", self.local_values, missing=Unknown("not evaluated")),
            "source": Names("source", self.source_values, missing=Unknown("not evaluated")),
            # path.cwd of a pipeline is the task's workspace, known when the task runs
            PATH_ROOT: Names(PATH_ROOT, {"config": str(self.directory.resolve()),
                                         "cwd": KNOWN_AT_RUN_TIME if pipeline else os.getcwd()}),
        }
        for type_ in self.types.declarable:
            roots[type_] = _ResourceTypeNamespace(type_, self)
        if pipeline:
            roots["run"] = _RunTimeNamespace()
            roots["steps"] = _RunTimeNamespace()
            return Scope(roots, self.run_time_functions)
        return Scope(roots, self.functions)

    def _evaluate(self, order: list[str]) -> None:
        models = step_models()
        for address in order:
            declared = self.declared[address]
            if declared.kind == "local":
                attribute = declared.attribute
                assert attribute is not None
                try:
                    self.local_values[address.split(".", 1)[1]] = evaluate(
                        attribute.expr, self._scope(pipeline=False))
                except EvalError as exc:
                    self._error(declared.path, exc.line or attribute.line,
                                exc.column or attribute.column, exc.summary, exc.detail, address)
            elif declared.kind == "source":
                assert declared.block is not None
                decoder = Decoder(declared.path, self.diagnostics, address)
                value = decoder.decode(declared.block.body, Source, self._scope(False),
                                       f'source "{declared.block.labels[0]}"',
                                       (declared.line, declared.column))
                self.source_values[declared.block.labels[0]] = {
                    "name": declared.block.labels[0], **value}
            elif declared.kind == "resource":
                self._evaluate_resource(declared, models)

    def _evaluate_resource(self, declared: _Declared, models: dict) -> None:
        block = declared.block
        assert block is not None
        self.evaluating = declared.address
        type_, name = block.type, block.labels[0]
        served = self.served.get(declared.address)
        if served is None:                  # no provider serves it: _serve said so
            return
        is_pipeline = type_ == "pipeline"
        scope = self._scope(pipeline=is_pipeline)
        folder = Folder(scope, self._local_expression) if is_pipeline else None
        decoder = Decoder(declared.path, self.diagnostics, declared.address, folder=folder,
                          step_models=models)
        attributes = decoder.decode(block.body, served.schema.model, scope, declared.address,
                                    (block.line, block.column), skip=META_ARGUMENTS)
        if _mark_sensitive(attributes, served.schema.sensitive):
            decoder.placeholders = True
        provider = served.provider
        dependencies: list[str] = []
        if "depends_on" in block.body.attributes:
            expr = block.body.attributes["depends_on"].expr
            items = expr[3] if expr[0] == E_TUPLE else (expr,)
            for item in items:
                names = next((n for n, _l, _c in references(item)), None)
                if item[0] in (E_ATTR, E_NAME) and names and len(names) == 2 \
                        and self.types.is_declarable(names[0]):
                    dependencies.append(f"{names[0]}.{names[1]}")
                else:
                    self._error(declared.path, expr[1], expr[2], "Invalid depends_on",
                                "depends_on is a list of resources, like [pipeline.app].",
                                declared.address)
        if is_pipeline:
            self._check_pipeline_shape(declared, block, attributes)
            for stage_name, stage in (attributes.get("stage") or {}).items():
                for task_name, problem in task_order_problems(stage_name, stage.get("task") or {}):
                    line, column = _task_needs_position(block, stage_name, task_name)
                    self._error(declared.path, line, column, "Invalid task order", problem,
                                declared.address)
            attributes = pipeline_definition(attributes)
        for target in self._resources_reached(declared):
            if target not in dependencies:
                dependencies.append(target)
        self.resources[declared.address] = ResourceConfig(
            declared.address, type_, name, provider, attributes, sorted(dependencies),
            Range(declared.path, block.line, block.column),
            {**{b.type: Range(declared.path, b.line, b.column)
                for b in reversed(block.body.blocks)},
             **{n: Range(declared.path, a.line, a.column)
                for n, a in block.body.attributes.items()}},
            decoder.placeholders, declared.address in self.reads_computed,
            functools.partial(_nested_range, declared.path, block),
            frozenset(n for n, a in block.body.attributes.items() if is_constant(a.expr)))


    def _check_pipeline_shape(self, declared: _Declared, block: Block,
                              decoded: dict[str, Any]) -> None:
        """Stage, task and step names must be usable as file names (they name workspace
        directories), and the attributes that shape the run must be known at plan time."""
        self._check_known_structure(declared, block, decoded, "pipeline")
        for stage_block, stage in _nested(block, decoded, "stage"):
            self._check_file_name(declared, stage_block)
            self._check_known_structure(declared, stage_block, stage, "stage")
            for task_block, task in _nested(stage_block, stage, "task"):
                self._check_file_name(declared, task_block)
                self._check_known_structure(declared, task_block, task, "task")
                for step_block, _step in _nested(task_block, task, "step"):
                    self._check_file_name(declared, step_block)

    def _check_file_name(self, declared: _Declared, block: Block) -> None:
        problem = unusable_file_name(block.labels[0])
        if problem is not None:
            line, column = block.label_positions[0] if block.label_positions else (
                block.line, block.column)
            self._error(declared.path, line, column, "Invalid name",
                        f'{block.type} "{_excerpt(block.labels[0])}": {problem}; a '
                        f"{block.type}'s name names its workspace directory.", declared.address)

    def _check_known_structure(self, declared: _Declared, block: Block, decoded: dict[str, Any],
                               kind: str) -> None:
        for name in STRUCTURAL_ATTRIBUTES[kind]:
            if not holds_deferred(decoded.get(name)):
                continue
            attribute = block.body.attributes[name]
            where = f'{kind} "{block.labels[0]}"' if block.labels else kind
            self._error(declared.path, attribute.line, attribute.column,
                        "Value needed before the run",
                        f'{where}: "{name}" shapes the run, so it must be known when the plan is '
                        "made; it uses a value known only at run time (run.*, steps.*, "
                        "hash_files(), path.cwd or a sensitive variable)."
                        + (' Use a task\'s "when" to decide at run time whether it runs.'
                           if kind == "task" else ""), declared.address)


# Attributes that shape a run (the scheduler reads them before anything runs): they must be known
# at plan time. `when` and step attributes are the ones meant to be run-time.
STRUCTURAL_ATTRIBUTES = {"pipeline": ("parallelism", "max_concurrent_runs", "on_limit"),
                         "stage": ("trigger",),
                         "task": ("needs", "timeout", "retries", "allow_failure", "runs_on")}


def _nested_range(path: str, block: Block, dotted: str) -> Range | None:
    """Where the deepest part of `dotted` (`host.web1.private_key`) is set inside `block`: an
    attribute, or a nested block by type and label; None when not even its first part is."""
    found: Range | None = None
    body = block.body
    steps = dotted.split(".")
    index = 0
    while index < len(steps):
        step = steps[index]
        attribute = body.attributes.get(step)
        if attribute is not None:
            return Range(path, attribute.line, attribute.column)
        nested = [b for b in body.blocks if b.type == step]
        if not nested:
            return found
        labelled = [b for b in nested if b.labels]
        if labelled:
            # the label may hold dots itself: the longest one that matches wins
            match, taken = None, 0
            for end in range(len(steps), index + 1, -1):
                label = ".".join(steps[index + 1:end])
                match = next((b for b in labelled if b.labels[0] == label), None)
                if match is not None:
                    taken = end - index
                    break
            if match is None:
                return found or Range(path, nested[0].line, nested[0].column)
            index += taken
        else:
            match = nested[0]
            index += 1
        found = Range(path, match.line, match.column)
        body = match.body
    return found


def _declared_sensitive(block: Block) -> bool:
    """Whether a variable block may be sensitive (anything but a missing or literal false)."""
    flag = block.body.attributes.get("sensitive")
    return flag is not None and flag.source.strip() != "false"


def _nested(block: Block, decoded: dict[str, Any], kind: str
            ) -> Iterable[tuple[Block, dict[str, Any]]]:
    """The labelled `kind` blocks inside `block` with their decoded values."""
    values = decoded.get(kind) or {}
    for child in block.body.blocks:
        if child.type == kind and len(child.labels) == 1:
            yield child, values.get(child.labels[0]) or {}


def _excerpt(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


_MISSING = object()
SECRET_AT_RUN_TIME = Unknown(KNOWN_AT_RUN_TIME.reason, sensitive=True)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def fields_of_variable() -> tuple[str, ...]:
    return ("default", "type", "description", "sensitive", "nullable")


def _body_references(body: Body) -> Iterable[tuple[tuple[str, ...], int, int]]:
    for attribute in body.attributes.values():
        yield from references(attribute.expr)
    for block in body.blocks:
        yield from _body_references(block.body)


class _VariableNamespace:
    """`var.NAME`. In a pipeline, a sensitive variable is a reference that the run resolves
    (its value is never planned nor stored); elsewhere it is the value, marked sensitive."""

    def __init__(self, values: dict[str, VariableValue], declared: Iterable[str],
                 sensitive: set[str], pipeline: bool):
        self.values = values
        self.declared = set(declared)
        self.sensitive = sensitive
        self.pipeline = pipeline

    def lookup(self, name: str, line: int, column: int) -> Any:
        if self.pipeline and name in self.sensitive:
            return SECRET_AT_RUN_TIME
        found = self.values.get(name)
        if found is None:
            if name not in self.declared:
                raise EvalError("Reference to undeclared input variable",
                                f"var.{name} is not declared.{_did_you_mean(name, self.declared)}",
                                line, column)
            # Declared but without a value: its own diagnostic says so; stay quiet here.
            return Unknown("value not given", sensitive=name in self.sensitive)
        return Sensitive(found.value) if found.sensitive else found.value


class _RunTimeNamespace:
    def lookup(self, name: str, line: int, column: int) -> Any:
        return KNOWN_AT_RUN_TIME


class _ResourceTypeNamespace:
    def __init__(self, type_: str, loader: _Loader):
        self.type = type_
        self.loader = loader

    def lookup(self, name: str, line: int, column: int) -> Any:
        return ResourceRef(self.type, name, _ResourceAttributes(f"{self.type}.{name}", self.type,
                                                                self.loader))


class _ResourceAttributes:
    def __init__(self, address: str, type_: str, loader: _Loader):
        self.address = address
        self.type = type_
        self.loader = loader

    def lookup(self, name: str, line: int, column: int) -> Any:
        resource = self.loader.resources.get(self.address)
        configured = resource.attributes.get(name) if resource is not None else None
        if configured is not None and not isinstance(configured, Unknown):
            return configured
        served = self.loader.served.get(self.address)
        if served is None:                  # its provider is missing: reported at the block
            return Unknown("provider not installed")
        known = fields_of(served.schema.model)
        computed = served.schema.computed
        if name not in known and name not in computed:
            names = sorted([*known, *computed])
            raise EvalError("Unsupported attribute",
                            f'{self.address} has no attribute "{name}".'
                            f"{_did_you_mean(name, names)} Attributes: {', '.join(names)}.",
                            line, column)
        if name in computed and self.loader.evaluating is not None:
            self.loader.reads_computed.add(self.loader.evaluating)
        if self.loader.state_attributes is not None:
            prior = self.loader.state_attributes(self.address)
            if prior and name in prior and not _is_marker(prior[name]):
                return prior[name]
        if configured is not None:
            return configured                   # unknown until a dependency is applied
        # A declared attribute left unset is null; a computed one is the provider's to set.
        return None if name in known else KNOWN_AFTER_APPLY


def _task_needs_position(pipeline: Block, stage: str, task: str) -> tuple[int, int]:
    """Where a task's `needs` is written (or the task block, or the pipeline block)."""
    for stage_block in pipeline.body.blocks:
        if stage_block.type == "stage" and stage_block.labels == [stage]:
            for task_block in stage_block.body.blocks:
                if task_block.type == "task" and task_block.labels == [task]:
                    needs = task_block.body.attributes.get("needs")
                    if needs is not None:
                        return needs.line, needs.column
                    return task_block.line, task_block.column
    return pipeline.line, pipeline.column


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f' Did you mean "{close[0]}"?' if close else ""


def _mark_sensitive(attributes: dict[str, Any], names: tuple[str, ...]) -> bool:
    """Wrap the values of the attributes a provider calls sensitive; True when any was."""
    marked = False
    for name in names:
        value = attributes.get(name)
        if value is not None and not isinstance(value, Sensitive) \
                and not contains_unknown(value):
            attributes[name] = Sensitive(value)
            marked = True
    return marked


def _is_marker(value: Any) -> bool:
    return isinstance(value, dict) and len(value) <= 2 and any(k.startswith("$") for k in value)

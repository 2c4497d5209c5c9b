"""The configuration language: one pydantic model per block, and the decoder that checks a block's
body against its model.

Core's models are the settings, variables, sources and pipelines (whose stages, tasks, steps and
caches the executor gives meaning). Every other resource type's model belongs to the provider that
serves it, handed over in its schema (flowplan.providers.ResourceSchema.model, found through
flowplan.config.resource_types); providers build them from `BlockModel`, `Nested` and `Ref` here.

A model's plain fields are the block's attributes; fields annotated with `Nested(...)` are nested
blocks (labelled ones become a dict keyed by label). Fields annotated with `Ref("pipeline")` take a
reference to a whole resource and hold its address. Step blocks are special: their `type`
attribute picks a step-type model from flowplan.config.steps.

`decode_body` evaluates and validates every attribute, reports unknown attributes and blocks,
missing required attributes, wrong types and duplicate labels as diagnostics, and returns plain
data with defaults filled in. Values not known yet (Unknown) skip type checks; inside pipelines,
values known only at run time or sensitive become `$deferred` markers holding the expression text,
so the executor evaluates them when the run starts and no secret is stored.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal, Optional, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from flowplan.config.expressions import EvalError, ResourceRef, Scope, deep_unwrap, evaluate
from flowplan.config.partial import Folder, holds_secret
from flowplan.config.syntax import Block, Body
from flowplan.diagnostics import Diagnostics, Range
from flowplan.values import KNOWN_AFTER_APPLY, KNOWN_AT_RUN_TIME, Sensitive, Unknown

DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
SIZE = re.compile(r"^(\d{1,15}) ?(B|KiB|MiB|GiB)$")
SIZE_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


@dataclass(frozen=True)
class Nested:
    """Marks a model field as nested blocks: `labels` is 0 or 1; `many` allows repeats."""

    labels: int = 1
    many: bool = True


@dataclass(frozen=True)
class Ref:
    """Marks a field that takes a reference to a whole resource of `type` (it becomes the
    address); with `or_name`, the resource's bare name as a string is taken too, made into its
    address (`"web"` -> `deployment_group.web`); with `or_text`, any other string is kept as it
    is, checked by the model's validators of the field (`repository` of `image_build`: an
    `acr_repository` or a full image name)."""

    type: str
    or_name: bool = False
    or_text: bool = False


def parse_duration(text: str) -> int:
    """Seconds in a duration like '90s', '10m', '1h30m'."""
    match = DURATION.match(text.strip()) if text else None
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration; write e.g. 30s, 10m or 1h30m")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_size(text: str) -> int:
    """Bytes in a size like '512MiB', '4GiB', '64 KiB' or '1000B' (a whole number and a unit:
    B, KiB, MiB, GiB; more than 0)."""
    match = SIZE.match(text.strip()) if isinstance(text, str) else None
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a size; write a whole number above 0 and a unit (B, "
                         "KiB, MiB or GiB), e.g. 512MiB or 4GiB")
    return int(match.group(1)) * SIZE_UNITS[match.group(2)]


def _check_size(value: Optional[str]) -> Optional[str]:
    if value is not None:
        parse_size(value)
    return value


def _check_duration(value: Optional[str]) -> Optional[str]:
    if value is not None:
        parse_duration(value)
    return value


def _check_artifact_url(value: Optional[str]) -> Optional[str]:
    if value is not None:
        from flowplan.artifact_server import ArtifactServerError, parse_artifact_url

        try:
            parse_artifact_url(value)
        except ArtifactServerError as error:
            raise ValueError(str(error)) from None
    return value


def _check_broker(value: Optional[str]) -> Optional[str]:
    if value is not None:
        from urllib.parse import urlsplit

        if urlsplit(value).scheme not in ("redis", "rediss"):
            raise ValueError("must be a redis:// or rediss:// URL (the celery executor's broker)")
    return value


def _check_server_url(value: Optional[str]) -> Optional[str]:
    if value is not None:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"{value!r}: the server URL takes no query, fragment or "
                             "credentials")
    return value


class BlockModel(BaseModel):
    """The model of one kind of block: core's, or a provider's for a resource type.

    Plain fields are attributes (a default makes them optional); `Annotated[..., Nested()]`
    fields nested blocks; `Annotated[str, Ref("pipeline")]` a reference to a whole resource.
    Pydantic field validators run on each attribute's value, and their ValueError becomes an
    "Invalid value" diagnostic at the attribute.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- settings, variables, sources ----------------------------------------------------------------

class StateSettings(BlockModel):
    backend: Literal["local", "pg"] = "local"
    path: str = ".flowplan/state.json"
    url: Optional[str] = Field(None, description="database URL for the pg backend")


class ToolsSettings(BlockModel):
    """`tools {}` in the `flowplan {}` block: where each version of a build tool is installed,
    by the version name steps ask for (`jdk = "17"`): `jdk = { "17" = "/usr/lib/jvm/..." }`
    (a JAVA_HOME), `maven = { "3.8" = "/opt/maven" }` (a Maven home, or its `mvn`), `node =
    { "20" = "/opt/node" }` (a Node.js prefix, or its `node`)."""

    jdk: dict[str, str] = {}
    maven: dict[str, str] = {}
    node: dict[str, str] = {}


class ServerSettings(BlockModel):
    """`server {}` in the `flowplan {}` block: where `flowplan serve` listens (loopback unless
    configured otherwise) and `url`, the address others reach it at (registered with GitHub for
    webhooks, written into git hooks); `url` defaults to `http://HOST:PORT`.
    `max_upload_size` (e.g. "4GiB") bounds one file a remote worker uploads (an artifact or a
    cache entry, flowplan.server.worker_api; default 4 GiB)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    url: Optional[str] = None
    max_upload_size: Optional[str] = None

    _url = field_validator("url")(lambda value: _check_server_url(value))
    _max_upload_size = field_validator("max_upload_size")(_check_size)


class Settings(BlockModel):
    """The `flowplan {}` block."""

    state: Annotated[Optional[StateSettings], Nested(labels=0, many=False)] = None
    store: str = "sqlite:///.flowplan/flowplan.db"
    artifacts_dir: str = ".flowplan/artifacts"
    cache_dir: str = ".flowplan/caches"
    workspace_dir: str = ".flowplan/workspaces"
    parallelism: int = Field(10, ge=1)
    run_as: Optional[str] = None      # the system user steps run as (flowplan must be root)
    tools: Annotated[Optional[ToolsSettings], Nested(labels=0, many=False)] = None
    # http://HOST:PORT where deploys serve artifacts to the hosts that fetch them (Cloud
    # Assistant), and the address the hosts reach it at (flowplan.artifact_server)
    artifact_url: Optional[str] = None
    server: Annotated[Optional[ServerSettings], Nested(labels=0, many=False)] = None
    # where tasks run: in the driving process ("local"), or sent to Celery workers through
    # `broker` (redis://...), each to the queue its task's `runs_on` names
    # (flowplan.executor.distributed)
    executor: Literal["local", "celery"] = "local"
    broker: Optional[str] = None
    # seconds: how often a worker says it still runs a task, and the silence after which the
    # driver counts the task's worker lost (at least twice the interval)
    heartbeat_interval: float = Field(1.0, gt=0, le=3600)
    heartbeat_timeout: float = Field(10.0, gt=0, le=86400)

    _artifact_url = field_validator("artifact_url")(_check_artifact_url)
    _broker = field_validator("broker")(_check_broker)


class ProviderConfig(BlockModel):
    """A `provider "NAME" {}` block: providers validate their own settings."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Variable(BlockModel):
    default: Any = None
    type: Any = None                  # decoded from the type expression, see flowplan.config.types
    description: str = ""
    sensitive: bool = False
    nullable: bool = True


class Source(BlockModel):
    url: str
    branch: Optional[str] = None
    tag: Optional[str] = None
    commit: Optional[str] = None
    depth: Optional[int] = Field(None, ge=1)
    submodules: bool = False
    credentials: Optional[str] = Field(None, description="name of a store secret or a variable")


# -- pipelines: the flowplan provider serves them, the executor gives them meaning ----------

class Cache(BlockModel):
    key: str
    restore_keys: list[str] = []
    paths: list[str]


class Step(BlockModel):
    """Attributes every step has; each step type adds its own (flowplan.config.steps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str


class Task(BlockModel):
    needs: list[str] = []
    timeout: Optional[str] = None
    retries: int = Field(0, ge=0)
    allow_failure: bool = False
    when: Optional[bool] = None
    runs_on: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                                   description="the worker queue (celery executor)")
    step: Annotated[dict[str, Step], Nested()] = {}

    _duration = field_validator("timeout")(_check_duration)


class Stage(BlockModel):
    trigger: Literal["auto", "manual"] = "auto"
    task: Annotated[dict[str, Task], Nested()] = {}


class Pipeline(BlockModel):
    description: str = ""
    source: Optional[dict[str, Any]] = None
    variables: dict[str, Any] = {}
    parallelism: int = Field(4, ge=1)
    # how many runs of this pipeline may be running at once (None: no limit), and what a start
    # past that does: wait for a slot, be refused, or cancel the oldest running run
    max_concurrent_runs: Optional[int] = Field(None, ge=1)
    on_limit: Literal["queue", "reject_new", "cancel_oldest"] = "queue"
    cache: Annotated[dict[str, Cache], Nested()] = {}
    stage: Annotated[dict[str, Stage], Nested()] = {}


# Arguments every resource block takes besides its provider's model (flowplan.config.loader).
META_ARGUMENTS = ("provider", "depends_on")


# -- model introspection ------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldSpec:
    name: str
    required: bool
    default: Any
    nested: Nested | None
    ref: Ref | None
    child: type[BlockModel] | None      # the model of nested blocks
    adapter: TypeAdapter | None


@lru_cache(maxsize=None)
def fields_of(model: type[BaseModel]) -> dict[str, FieldSpec]:
    specs: dict[str, FieldSpec] = {}
    for name, info in model.model_fields.items():
        nested = next((m for m in info.metadata if isinstance(m, Nested)), None)
        ref = next((m for m in info.metadata if isinstance(m, Ref)), None)
        child = None
        adapter = None
        if nested is not None:
            annotation = info.annotation
            args = [a for a in get_args(annotation) if a is not type(None)]
            if get_origin(annotation) is dict:
                child = args[1]
            else:
                child = args[0] if args else annotation
        elif ref is None:
            adapter = TypeAdapter(Annotated[info.annotation, *info.metadata]) \
                if info.metadata else TypeAdapter(info.annotation)
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        specs[name] = FieldSpec(name, info.is_required(), default, nested, ref, child, adapter)
    return specs


def _field_validators(model: type[BaseModel]) -> dict[str, Any]:
    return model.__pydantic_decorators__.field_validators


# -- decoding -----------------------------------------------------------------------------------

class Decoder:
    """Evaluates and checks block bodies against models, collecting diagnostics."""

    def __init__(self, path: str, diagnostics: Diagnostics, address: str | None,
                 folder: Folder | None = None,
                 step_models: dict[str, type[BlockModel]] | None = None):
        self.path = path
        self.diagnostics = diagnostics
        self.address = address
        # Given for pipelines: values the run completes are partly evaluated by it.
        self.folder = folder
        self.step_models = step_models or {}
        # Set once a decoded value holds an Unknown or Sensitive object, which must become a
        # JSON marker before the value is planned or stored.
        self.placeholders = False

    def range(self, line: int, column: int) -> Range:
        return Range(self.path, line, column)

    def error(self, summary: str, detail: str, line: int, column: int) -> None:
        self.diagnostics.error(summary, detail, self.range(line, column), self.address)

    def decode(self, body: Body, model: type[BlockModel], scope: Scope, where: str,
               position: tuple[int, int], skip: tuple[str, ...] = ()) -> dict[str, Any]:
        """Plain data for `body` checked against `model`; `where` names the block in messages."""
        specs = fields_of(model)
        result: dict[str, Any] = {}
        for name, attribute in body.attributes.items():
            if name in skip:
                continue
            spec = specs.get(name)
            if spec is None or spec.nested is not None:
                self._unknown_attribute(name, attribute.line, attribute.column, specs, where,
                                        is_block=spec is not None)
                continue
            try:
                value = evaluate(attribute.expr, scope)
            except EvalError as exc:
                self.error(exc.summary, exc.detail, exc.line or attribute.line,
                           exc.column or attribute.column)
                result[name] = None             # given, though wrong: not "missing" as well
                continue
            result[name] = self._check_value(spec, value, attribute, model, where)
        for block in body.blocks:
            spec = specs.get(block.type)
            if spec is None or spec.nested is None:
                self._unknown_block(block, specs, where)
                continue
            self._decode_nested(block, spec, scope, result, where)
        for name, spec in specs.items():
            if name in result or name in skip:
                continue
            if spec.required:
                kind = "block" if spec.nested else "argument"
                self.error(f"Missing required {kind}",
                           f'{where} needs the {kind} "{name}".', *position)
            else:
                result[name] = spec.default
        return result

    def _decode_nested(self, block: Block, spec: FieldSpec, scope: Scope, result: dict,
                       where: str) -> None:
        nested = spec.nested
        assert nested is not None and spec.child is not None
        if len(block.labels) != nested.labels:
            want = "one label" if nested.labels == 1 else "no labels"
            example = f'{block.type} "NAME" {{ ... }}' if nested.labels else f"{block.type} {{ ... }}"
            self.error("Wrong number of block labels",
                       f'A "{block.type}" block takes {want}: {example}.', block.line, block.column)
            return
        child_where = f'{block.type} "{block.labels[0]}"' if block.labels else block.type
        if block.type == "step" and spec.child is Step:
            value = self.decode_step(block, scope, child_where)
        else:
            value = self.decode(block.body, spec.child, scope, child_where,
                                (block.line, block.column))
        if nested.labels == 0:
            if block.type in result:
                self.error("Duplicate block", f'Only one "{block.type}" block is allowed in '
                           f"{where}.", block.line, block.column)
                return
            result[block.type] = value
            return
        collection = result.setdefault(block.type, {})
        label = block.labels[0]
        if label in collection:
            self.error("Duplicate block",
                       f'{where} already has a {block.type} named "{label}".',
                       block.line, block.column)
            return
        collection[label] = value

    def decode_step(self, block: Block, scope: Scope, where: str) -> dict[str, Any]:
        type_attribute = block.body.attributes.get("type")
        if type_attribute is None:
            self.error("Missing required argument", f'{where} needs "type": one of '
                       f'{", ".join(sorted(self.step_models))}.', block.line, block.column)
            return {}
        try:
            step_type = evaluate(type_attribute.expr, scope)
        except EvalError as exc:
            self.error(exc.summary, exc.detail, exc.line, exc.column)
            return {}
        if not isinstance(step_type, str):
            self.error("Invalid step type", f'{where}: the step type must be a literal string '
                       f'such as "command"; known step types: '
                       f'{", ".join(sorted(self.step_models))}.',
                       type_attribute.expr[1], type_attribute.expr[2])
            return {}
        model = self.step_models.get(step_type)
        failure = getattr(self.step_models, "failures", {}).get(step_type)
        if model is None and failure is not None:
            # The step stays in the definition, so a run fails this step alone (if the loader's
            # caller lets the run start at all).
            self.error(failure.step_error_summary, f"{where}: step type \"{step_type}\" comes from "
                       f"the plugin {failure.target}, which failed to load: {failure.error}.",
                       type_attribute.line, type_attribute.column)
            return {"type": step_type}
        if model is None:
            self.error("Unknown step type",
                       f'{where}: "{step_type}" is not a step type. Known step types: '
                       f'{", ".join(sorted(self.step_models))}.',
                       type_attribute.line, type_attribute.column)
            return {}
        decoded = self.decode(block.body, model, scope, where, (block.line, block.column),
                              skip=("type",))
        self._check_step_model(model, step_type, decoded, where, block)
        return {"type": step_type, **decoded}

    def _check_step_model(self, model: type[BlockModel], step_type: str,
                          decoded: dict[str, Any], where: str, block: Block) -> None:
        """A step model's own checks across its attributes (`model_validator(mode="before")`,
        such as two attributes that exclude each other), at the step block. Errors of single
        attributes were reported already, and values the run completes are not known yet:
        only the model's own errors count here."""
        if not model.__pydantic_decorators__.model_validators:
            return
        try:
            model.model_validate({"type": step_type, **decoded})
        except ValidationError as exc:
            for problem in exc.errors():
                if not problem.get("loc"):
                    self.error("Invalid step", f"{where}: {_describe_error(problem)}",
                               block.line, block.column)

    def _check_value(self, spec: FieldSpec, value: Any, attribute, model, where: str) -> Any:
        if self.folder is not None and spec.ref is None and _waits_for_run(value):
            # A pipeline value that the run completes: the known parts are folded in now, so
            # the plan shows them; the rest (run.*, steps.*, secrets) stays template text.
            return self._fold(attribute, value)
        if isinstance(value, Unknown):
            self.placeholders = True
            return value
        if spec.ref is not None:
            if isinstance(value, ResourceRef) and value.type == spec.ref.type:
                return value.address
            if spec.ref.or_text and self.folder is not None and _waits_for_run(value):
                return self._fold(attribute, value)
            if spec.ref.or_text and isinstance(value, str):
                return self._check_text_ref(spec, value, attribute, model, where)
            prefix = f"{spec.ref.type}."
            if spec.ref.or_name and isinstance(value, str) and value.removeprefix(prefix):
                return value if value.startswith(prefix) else prefix + value
            also = f' or its name ("NAME")' if spec.ref.or_name else ""
            self.error("Invalid reference", f'"{spec.name}" takes a reference to a '
                       f"{spec.ref.type}, like {spec.ref.type}.NAME{also}.",
                       attribute.expr[1], attribute.expr[2])
            return None
        # a map or list with sensitive entries is checked by its plain values and kept as it is,
        # so each entry stays sensitive (and is hashed where it is stored)
        sensitive_inside = not isinstance(value, Sensitive) and holds_secret(value)
        plain = (deep_unwrap(value) if sensitive_inside
                 else value.value if isinstance(value, Sensitive) else value)
        if isinstance(value, Sensitive) or sensitive_inside or _contains_unknown(plain):
            self.placeholders = True
        if _contains_unknown(plain):
            return value
        try:
            checked = spec.adapter.validate_python(plain) if spec.adapter else plain
            for validator in _field_validators(model).values():
                if spec.name in validator.info.fields:
                    checked = validator.func(checked)
        except ValidationError as exc:
            problem = exc.errors()[0]
            self.error("Invalid value", f'{where}: "{spec.name}": {_describe_error(problem)}',
                       attribute.expr[1], attribute.expr[2])
            return None
        except ValueError as exc:
            self.error("Invalid value", f'{where}: "{spec.name}": {exc}',
                       attribute.expr[1], attribute.expr[2])
            return None
        if isinstance(checked, BaseModel):
            checked = checked.model_dump()
        elif isinstance(checked, list):         # a list of objects (kubectl_apply canary steps)
            checked = [i.model_dump() if isinstance(i, BaseModel) else i for i in checked]
        if sensitive_inside:
            return value
        return Sensitive(checked) if isinstance(value, Sensitive) else checked

    def _check_text_ref(self, spec: FieldSpec, value: str, attribute, model,
                        where: str) -> str | None:
        """A string given to a `Ref(or_text=True)` field, through the model's validators."""
        try:
            for validator in _field_validators(model).values():
                if spec.name in validator.info.fields:
                    value = validator.func(value)
        except ValueError as exc:
            self.error("Invalid value", f'{where}: "{spec.name}": {exc}',
                       attribute.expr[1], attribute.expr[2])
            return None
        return value

    def _fold(self, attribute, value: Any) -> Any:
        if _any_unknown(value, _after_apply):
            self.placeholders = True            # apply evaluates it again, then folds it
            return Unknown(KNOWN_AFTER_APPLY.reason)
        try:
            return self.folder.value(attribute.expr, value)
        except EvalError as exc:
            self.error(exc.summary, exc.detail, exc.line or attribute.expr[1],
                       exc.column or attribute.expr[2])
            return None

    def _unknown_attribute(self, name: str, line: int, column: int, specs: dict, where: str,
                           is_block: bool) -> None:
        if is_block:
            self.error("Unsupported argument", f'"{name}" is a block, not an argument: write '
                       f'{name} {{ ... }} in {where}.', line, column)
            return
        valid = [n for n, s in specs.items() if s.nested is None]
        self.error("Unsupported argument", f'{where} has no argument "{name}".'
                   f"{_suggest(name, valid)} Arguments: {', '.join(valid)}.", line, column)

    def _unknown_block(self, block: Block, specs: dict, where: str) -> None:
        valid = [n for n, s in specs.items() if s.nested is not None]
        if block.type in specs:
            self.error("Unsupported block type", f'"{block.type}" is an argument, not a block: '
                       f"write {block.type} = ... in {where}.", block.line, block.column)
            return
        allowed = f" Blocks: {', '.join(valid)}." if valid else " It takes no nested blocks."
        self.error("Unsupported block type", f'{where} has no block type "{block.type}".'
                   f"{_suggest(block.type, valid)}{allowed}", block.line, block.column)


def _any_unknown(value: Any, test) -> bool:
    """True when some Unknown inside `value` passes `test`."""
    if isinstance(value, Unknown):
        return test(value)
    if isinstance(value, dict):
        return any(_any_unknown(v, test) for v in value.values())
    if isinstance(value, list):
        return any(_any_unknown(v, test) for v in value)
    return False


def _after_apply(unknown: Unknown) -> bool:
    return unknown.reason == KNOWN_AFTER_APPLY.reason


def _waits_for_run(value: Any) -> bool:
    """True for a value that only a run completes: it holds a run-time value or a secret."""
    return holds_secret(value) or _any_unknown(
        value, lambda u: u.reason == KNOWN_AT_RUN_TIME.reason)


def _contains_unknown(value: Any) -> bool:
    return _any_unknown(value, lambda u: True)


def _suggest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    return f' Did you mean "{close[0]}"?' if close else ""


def _describe_error(problem: dict) -> str:
    location = ".".join(str(p) for p in problem.get("loc", ()) if p != "function-after")
    message = problem.get("msg", "invalid value")
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return f"{message} (at {location})" if location else message

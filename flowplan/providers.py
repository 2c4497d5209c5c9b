"""The provider protocol: how core talks to the code that manages one family of resources.

A provider proposes, core decides. Providers describe their resource types (`schema`: each type's
block model, computed, sensitive and force-new attributes), validate config offline (`validate`,
which `flowplan validate` runs too), read the real object (`read`, used by refresh), propose a
planned state and the attributes that force replacement (`plan`), and make a change real
(`apply`). They never pick the action: flowplan.plan.decide.decide_action does that from (prior,
planned, requires_replace). Which types a config may declare is whatever the installed providers'
schemas say (flowplan.config.resource_types); core holds no resource model of its own.

Attribute values crossing this boundary are plain JSON data in which an unknown value is the
marker {"$unknown": reason} and a sensitive value is {"$sensitive": digest} (see flowplan.values),
except `ApplyRequest.config`, which carries the evaluated config with sensitive values in clear so
a provider can hand them to the real system.

Providers are found through the `flowplan.providers` entry-point group; core never imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

Attributes = dict[str, Any]


@dataclass(frozen=True)
class ResourceSchema:
    """What a provider says about one resource type.

    `model` describes the block: a subclass of flowplan.config.schema.BlockModel whose plain
    fields are the attributes (their types; required when they have no default) and whose fields
    annotated `Nested(...)` are nested blocks, `Ref("pipeline")` a reference to a whole resource.
    The loader checks every block of the type against it, so mistakes are reported with their
    file, line and column before any provider is called. Computed attributes are not fields of
    the model: a config cannot set them, only read them (`computed`). `sensitive` attributes are
    kept as sensitive values (a digest in plans and state) whatever the config sets them to.
    """

    type: str
    computed: tuple[str, ...] = ()        # attributes the provider sets on apply (id, url, ...)
    force_new: tuple[str, ...] = ()       # attributes whose change forces replacement
    description: str = ""
    model: Any = None                     # the block's pydantic model (a BlockModel subclass)
    sensitive: tuple[str, ...] = ()       # attributes always treated as sensitive values


@dataclass(frozen=True)
class ProviderSchema:
    name: str
    resources: tuple[ResourceSchema, ...]
    # Other providers whose `provider "NAME" {}` blocks this one is configured with
    # (ConfigureRequest.blocks): the flowplan provider reads alicloud's for the ECS instances of
    # deployment groups.
    reads: tuple[str, ...] = ()

    def resource(self, type_: str) -> ResourceSchema | None:
        return next((r for r in self.resources if r.type == type_), None)


@dataclass(frozen=True)
class ProviderDiagnostic:
    summary: str
    detail: str = ""
    attribute: str | None = None          # the attribute at fault, for a file:line:col
    severity: str = "error"
    # From `configure` only: the provider block at fault when it is another provider's (one the
    # schema `reads`); `attribute` is then that block's attribute.
    block: str | None = None


@dataclass(frozen=True)
class ProviderBlock:
    """Another provider's `provider "NAME" {}` block, as a provider that reads it gets it."""

    config: Attributes                    # evaluated, sensitive values in clear
    literal: tuple[str, ...] = ()         # attributes written as constant text in the file
    #                                       (no reference, no function call): for refusing secrets
    #                                       written into the config


@dataclass(frozen=True)
class ConfigureRequest:
    config: Attributes                    # the evaluated `provider "NAME" {}` block, may be empty
    working_dir: str                      # the config directory
    settings: Attributes                  # the evaluated `flowplan {}` block (store URL, state, ...)
    # The blocks of the providers the schema `reads`, by name (those the config has).
    blocks: dict[str, ProviderBlock] = field(default_factory=dict)
    team: str = "default"                 # the team applying (flowplan.teams): whose rows


@dataclass(frozen=True)
class ValidateRequest:
    type: str
    name: str
    config: Attributes
    # Attributes written as constant text in the file (no reference, no function call): for
    # refusing a secret written into the config (a sensitive attribute is a marker either way).
    literal: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadRequest:
    type: str
    name: str
    state: Attributes                     # attributes as last recorded in the state


@dataclass(frozen=True)
class ReadResponse:
    state: Attributes | None              # None: the object no longer exists
    diagnostics: tuple[ProviderDiagnostic, ...] = ()


@dataclass(frozen=True)
class PlanRequest:
    type: str
    name: str
    prior: Attributes | None              # None: not in state
    config: Attributes                    # evaluated config, with markers


@dataclass(frozen=True)
class PlanResponse:
    planned: Attributes
    requires_replace: tuple[str, ...] = ()
    diagnostics: tuple[ProviderDiagnostic, ...] = ()


@dataclass(frozen=True)
class ApplyRequest:
    type: str
    name: str
    prior: Attributes | None              # None: create
    planned: Attributes | None            # None: delete
    config: Attributes | None = None      # evaluated config, sensitive values in clear


@dataclass(frozen=True)
class ApplyResponse:
    state: Attributes | None              # the new recorded attributes; None after a delete
    diagnostics: tuple[ProviderDiagnostic, ...] = ()


@dataclass(frozen=True)
class ImportRequest:
    type: str
    name: str
    id: str                               # the real object's id, as the provider spells it
    # The block's evaluated config, with markers: what only flowplan knows (a webhook's pipeline
    # and filters) is taken from here, so the next plan shows only real differences.
    config: Attributes | None = None


@dataclass(frozen=True)
class ImportResponse:
    state: Attributes | None
    diagnostics: tuple[ProviderDiagnostic, ...] = ()


@runtime_checkable
class Provider(Protocol):
    """One family of resources against one real system."""

    name: str

    def schema(self) -> ProviderSchema: ...

    def configure(self, request: ConfigureRequest) -> list[ProviderDiagnostic]: ...

    def validate(self, request: ValidateRequest) -> list[ProviderDiagnostic]: ...

    def read(self, request: ReadRequest) -> ReadResponse: ...

    def plan(self, request: PlanRequest) -> PlanResponse: ...

    def apply(self, request: ApplyRequest) -> ApplyResponse: ...

    def import_resource(self, request: ImportRequest) -> ImportResponse: ...


ENTRY_POINT_GROUP = "flowplan.providers"


def discover(failures: dict[str, str] | None = None) -> dict[str, type]:
    """Provider classes by name, from the `flowplan.providers` entry points.

    An entry point that fails to load is left out; with `failures` given, the reason is put
    there by provider name (`"module:Class: ImportError: ..."`), for a diagnostic.
    """
    found: dict[str, type] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found[ep.name] = ep.load()
        except Exception as error:  # noqa: BLE001 - a broken plugin is reported, not raised
            if failures is None:
                raise
            failures[ep.name] = f"{ep.value}: {type(error).__name__}: {error}"
    return found


PLUGIN_ENVIRONMENT = "FLOWPLAN_PROVIDER_PLUGINS"


class ProviderRegistry:
    """Provider instances by name, created on first use and configured once.

    Besides the entry points, `FLOWPLAN_PROVIDER_PLUGINS="name=module:Class,..."` loads providers
    that are not installed as packages (a provider under development, or a test double).
    A provider that fails to load (or whose `schema()` raises) is not installed as far as core is
    concerned; `failures` says why, by name, so the loader can report it.
    """

    def __init__(self, classes: dict[str, type] | None = None,
                 environ: dict[str, str] | None = None):
        import os

        self.failures: dict[str, str] = {}
        self._classes = dict(classes) if classes is not None else discover(self.failures)
        plugins = (environ if environ is not None else os.environ).get(PLUGIN_ENVIRONMENT, "")
        for item in filter(None, (p.strip() for p in plugins.split(","))):
            name, _, target = item.partition("=")
            name = name.strip()
            module_name, _, attribute = target.strip().partition(":")
            import importlib

            try:
                self._classes[name] = getattr(importlib.import_module(module_name), attribute)
            except Exception as error:  # noqa: BLE001 - reported as a diagnostic by the loader
                self.failures[name] = (f"{PLUGIN_ENVIRONMENT} {target.strip()}: "
                                       f"{type(error).__name__}: {error}")
                continue
            self.failures.pop(name, None)
        self._instances: dict[str, Provider] = {}
        self._schemas: dict[str, ProviderSchema | None] = {}

    @property
    def names(self) -> list[str]:
        return sorted({*self._classes, *self._instances})

    def has(self, name: str) -> bool:
        return name in self._classes or name in self._instances

    def add(self, name: str, provider: Provider) -> None:
        self._instances[name] = provider
        self._schemas.pop(name, None)

    def get(self, name: str) -> Provider:
        if name not in self._instances:
            self._instances[name] = self._classes[name]()
        return self._instances[name]

    def schema(self, name: str) -> ProviderSchema | None:
        """The schema of provider `name`, asked once; None (and a `failures` entry) when the
        provider cannot be created or its `schema()` raises."""
        if name not in self._schemas:
            try:
                self._schemas[name] = self.get(name).schema()
            except Exception as error:  # noqa: BLE001 - a broken provider is a diagnostic
                self.failures[name] = f"schema(): {type(error).__name__}: {error}"
                self._schemas[name] = None
        return self._schemas[name]

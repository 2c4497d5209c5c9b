"""Which resource types a config may declare and which provider serves each block, read from the
installed providers' schemas (flowplan.providers.ProviderRegistry): core holds no resource model.

A provider's `schema()` lists its resource types, each with the pydantic model of its block
(`ResourceSchema.model`), its computed, sensitive and force-new attributes. A block is served by
the provider its `provider = "NAME"` meta-argument names, else by the type's usual provider
(`USUAL_PROVIDERS`) when that one is installed and serves it, else by the one installed provider
that serves the type.

`USUAL_PROVIDERS` is documentation data, not schema: the resource types flowplan's design names
and the provider expected to serve each, so that a block of a type whose provider is not
installed gets one `Provider "alicloud" is not installed` error instead of "Unsupported block
type". Checking blocks against the models is flowplan.config.schema's; reporting is the loader's.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowplan.providers import ProviderRegistry, ResourceSchema

USUAL_PROVIDERS: dict[str, str] = {
    "pipeline": "flowplan",
    "schedule": "flowplan",
    "deployment_group": "flowplan",
    "acr_namespace": "alicloud",
    "acr_repository": "alicloud",
    "webhook": "github",
    "kubernetes_namespace": "kubernetes",
}


@dataclass(frozen=True)
class Served:
    """The provider serving one block, and its schema for the block's type."""

    provider: str
    schema: ResourceSchema


@dataclass(frozen=True)
class Unserved:
    """Why no installed provider serves a block (or another provider problem): the summary and
    detail of its diagnostic."""

    summary: str
    detail: str


# Names a resource type cannot take: other top-level blocks and roots of references.
RESERVED_NAMES = ("flowplan", "provider", "variable", "locals", "source", "var", "local", "run",
                  "steps", "path", "module", "data", "terraform", "string", "number", "bool", "any")


class ResourceTypes:
    """The resource types of the installed providers, by type and provider name."""

    def __init__(self, registry: ProviderRegistry):
        self.registry = registry
        self._served: dict[str, dict[str, ResourceSchema]] = {}
        self._ignored: dict[str, str] = {}          # provider name -> why some type was left out
        for name in registry.names:
            schema = registry.schema(name)
            for resource in schema.resources if schema is not None else ():
                if resource.type in RESERVED_NAMES or not resource.type.isidentifier():
                    self._ignored[name] = (f"its resource type {resource.type!r} is left out: "
                                           "that name is reserved or not an identifier")
                    continue
                self._served.setdefault(resource.type, {})[name] = resource

    @property
    def names(self) -> list[str]:
        """Types some installed provider serves: the usual ones in their order, then the rest."""
        usual = [t for t in USUAL_PROVIDERS if t in self._served]
        return usual + sorted(t for t in self._served if t not in USUAL_PROVIDERS)

    @property
    def declarable(self) -> list[str]:
        """Types a block may have: those served, and the usual ones whose provider is missing
        (their blocks get a `Provider "..." is not installed` error)."""
        return self.names + [t for t in USUAL_PROVIDERS if t not in self._served]

    def is_declarable(self, type_: str) -> bool:
        return type_ in self._served or type_ in USUAL_PROVIDERS

    def problems(self) -> list[Unserved]:
        """What went wrong loading the providers, as (summary, detail) for warnings."""
        found = [Unserved(f'Provider plugin "{name}" failed to load', f"{why}.")
                 for name, why in sorted(self.registry.failures.items())]
        found += [Unserved(f'Provider "{name}" declares a resource type it cannot have',
                           f"{why}.") for name, why in sorted(self._ignored.items())]
        return found

    def serve(self, type_: str, address: str, provider: str | None = None) -> Served | Unserved:
        """Who serves the block `address` of `type_`; `provider` is its meta-argument, if any."""
        servers = self._served.get(type_, {})
        if provider is None:
            usual = USUAL_PROVIDERS.get(type_)
            if usual in servers:
                provider = usual
            elif len(servers) == 1:
                provider = next(iter(servers))
            elif servers:
                return Unserved(
                    "Ambiguous provider",
                    f"{address}: providers {', '.join(sorted(servers))} all serve {type_}; "
                    f'choose one with provider = "NAME".')
            else:
                provider = usual
        assert provider is not None, f"{type_} is not declarable"
        schema = servers.get(provider)
        if schema is None:
            return self._missing(type_, address, provider)
        if schema.model is None:
            return Unserved(f'Provider "{provider}" does not describe {type_}',
                            f"{address}: the {provider} provider lists the resource type "
                            f"{type_} without a model of its block (ResourceSchema.model), so "
                            "its attributes cannot be checked.")
        return Served(provider, schema)

    def _missing(self, type_: str, address: str, provider: str) -> Unserved:
        installed = ", ".join(n for n in self.registry.names
                              if self.registry.schema(n) is not None) or "none"
        failure = self.registry.failures.get(provider)
        if failure is not None:
            return Unserved(f'Provider "{provider}" failed to load',
                            f"{address} needs the {provider} provider, which failed to load: "
                            f"{failure}.")
        if not self.registry.has(provider):
            return Unserved(f'Provider "{provider}" is not installed',
                            f"{address} needs the {provider} provider, which serves {type_}. "
                            f"Installed providers: {installed}.")
        offered = sorted(t for t, by in self._served.items() if provider in by)
        return Unserved(f'Provider "{provider}" has no resource type "{type_}"',
                        f"{address}: the {provider} provider serves "
                        f"{', '.join(offered) or 'no resource types'}.")

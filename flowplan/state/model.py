"""The state model: what `apply` last provisioned, as plain data, and the upgrade path of its format.

Holds `ResourceState`, `State` (version, serial, lineage, resources), the conversion to and from the
JSON-ready dict that is persisted, and `upgrade()`, which brings a dict written by an older flowplan
up to `STATE_VERSION` through the `MIGRATIONS` registry.

It leaves files, atomic writes and locks to flowplan.state.local, concurrent recording during apply
to flowplan.state.writer, and what the attributes mean to the providers: attribute values are opaque
JSON here, markers such as {"$unknown": ...} and {"$sensitive": ...} included (see flowplan.values).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

STATE_VERSION = 1
"""The version of the state format this flowplan writes."""

Migration = Callable[[dict], dict]

MIGRATIONS: dict[int, Migration] = {}
"""Upgrades of the persisted dict, by the version they upgrade *from*.

A migration takes the raw dict of version N and returns the raw dict of version N + 1, with its
"version" set to N + 1. None exists yet: version 1 is the first format. When the format changes,
bump STATE_VERSION and register the step from the previous version, e.g.

    def _from_1(raw: dict) -> dict:
        for resource in raw["resources"]:
            resource.setdefault("provider", resource["type"].split("_", 1)[0])
        return {**raw, "version": 2}

    MIGRATIONS[1] = _from_1
"""


class StateError(Exception):
    """The state cannot be read, written or locked as asked; the message says what to do."""


@dataclass(slots=True)
class ResourceState:
    """One provisioned resource as recorded after apply."""

    address: str                      # e.g. "acr_repository.app"
    type: str                         # e.g. "acr_repository"
    name: str                         # e.g. "app"
    provider: str                     # e.g. "alicloud"
    attributes: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)   # addresses this resource depends on

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form; shares `attributes` with this object rather than copying it."""
        return {
            "address": self.address,
            "type": self.type,
            "name": self.name,
            "provider": self.provider,
            "attributes": self.attributes,
            "dependencies": list(self.dependencies),
        }

    @classmethod
    def from_dict(cls, raw: Any) -> "ResourceState":
        if not isinstance(raw, dict):
            raise StateError(f"a resource in the state is not an object: {raw!r:.80}")
        try:
            resource = cls(raw["address"], raw["type"], raw["name"], raw["provider"],
                           raw.get("attributes", {}), list(raw.get("dependencies", ())))
        except KeyError as missing:
            where = raw.get("address", "a resource")
            raise StateError(f"{where} in the state has no {missing} field") from None
        if not isinstance(resource.address, str) or not isinstance(resource.attributes, dict):
            raise StateError(f"resource {resource.address!r} in the state is malformed: the address "
                             "must be a string and the attributes an object")
        return resource


class State:
    """The resources `apply` last provisioned, in a stable order, indexed by address.

    `serial` counts writes of this state (the backend bumps it on each write); `lineage` names the
    history this state belongs to and is set once, when the state is first created, so two unrelated
    state files are never mistaken for versions of each other.
    """

    __slots__ = ("version", "serial", "lineage", "_by_address")

    def __init__(self, version: int = STATE_VERSION, serial: int = 0, lineage: str | None = None,
                 resources: Iterable[ResourceState] = ()):
        self.version = version
        self.serial = serial
        self.lineage = lineage if lineage is not None else str(uuid.uuid4())
        # A dict keeps insertion order and replaces in place: it is both the list and its index.
        self._by_address: dict[str, ResourceState] = {}
        for resource in resources:
            if resource.address in self._by_address:
                raise StateError(f"the state holds {resource.address} twice")
            self._by_address[resource.address] = resource

    @property
    def resources(self) -> list[ResourceState]:
        return list(self._by_address.values())

    def get(self, address: str) -> ResourceState | None:
        return self._by_address.get(address)

    def set(self, resource: ResourceState) -> None:
        """Insert `resource`, or replace the one with its address where it stands."""
        self._by_address[resource.address] = resource

    def remove(self, address: str) -> ResourceState | None:
        """Drop the resource at `address`; returns it, or None when it was not there."""
        return self._by_address.pop(address, None)

    def addresses(self) -> list[str]:
        return list(self._by_address)

    def __len__(self) -> int:
        return len(self._by_address)

    def __contains__(self, address: object) -> bool:
        return address in self._by_address

    def __iter__(self) -> Iterator[ResourceState]:
        return iter(self._by_address.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return NotImplemented
        return ((self.version, self.serial, self.lineage) == (other.version, other.serial, other.lineage)
                and self.resources == other.resources)

    def __repr__(self) -> str:
        return (f"State(version={self.version}, serial={self.serial}, lineage={self.lineage!r}, "
                f"resources=<{len(self)}>)")

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "serial": self.serial,
            "lineage": self.lineage,
            "resources": [resource.to_dict() for resource in self._by_address.values()],
        }

    @classmethod
    def from_dict(cls, raw: Any) -> "State":
        """Build a state from its persisted dict, upgrading it from an older version first."""
        if not isinstance(raw, dict):
            raise StateError("the state is not a JSON object")
        raw = upgrade(raw)
        lineage, serial, resources = raw.get("lineage"), raw.get("serial"), raw.get("resources", [])
        if not isinstance(lineage, str) or not lineage:
            raise StateError("the state has no lineage")
        if not isinstance(serial, int) or serial < 0:
            raise StateError(f"the state has an invalid serial: {serial!r}")
        if not isinstance(resources, list):
            raise StateError("the state's resources are not a list")
        return cls(raw["version"], serial, lineage, (ResourceState.from_dict(r) for r in resources))


def upgrade(raw: dict) -> dict:
    """Bring a persisted state dict up to STATE_VERSION by applying MIGRATIONS in order.

    Refuses a state written by a newer flowplan, since this one would silently drop what it does not
    know. A dict already at STATE_VERSION is returned as it is.
    """
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise StateError(f"the state has no valid version field (found {version!r})")
    if version > STATE_VERSION:
        raise StateError(
            f"the state has format version {version}, but this flowplan understands up to version "
            f"{STATE_VERSION}: it was written by a newer flowplan. Upgrade flowplan to use it.")
    while version < STATE_VERSION:
        migration = MIGRATIONS.get(version)
        if migration is None:
            raise StateError(f"no upgrade path for state format version {version} "
                             f"(this flowplan writes version {STATE_VERSION})")
        raw = migration(raw)
        if raw.get("version") != version + 1:
            raise StateError(f"the upgrade from state format version {version} did not produce "
                             f"version {version + 1} (bug in the migration)")
        version += 1
    return raw

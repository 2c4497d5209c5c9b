"""The plan as data: Action, AttributeChange, ResourceChange and Plan, and the plan file format.

A plan is frozen and plain JSON underneath: `apply` reads nothing else, and every view renders the
same object. Attribute values may hold the markers of flowplan.values (`{"$unknown": reason}`,
`{"$sensitive": digest}`) and the deferred marker `{"$deferred": source, "sensitive": bool}`, an
expression the pipeline executor evaluates at run time.

Deciding actions lives in flowplan.plan.decide, diffing attributes in flowplan.plan.diff, turning a
plan into text in flowplan.views.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from flowplan.values import DEFERRED_KEY, SENSITIVE_KEY, UNKNOWN_KEY

PLAN_FILE_KEY = "flowplan_plan"
PLAN_FILE_VERSION = 1


def is_deferred_marker(value: Any) -> bool:
    return isinstance(value, dict) and DEFERRED_KEY in value


def is_marker(value: Any) -> bool:
    """True for an unknown, sensitive or deferred marker: a value to treat as one opaque leaf."""
    return isinstance(value, dict) and (
        UNKNOWN_KEY in value or SENSITIVE_KEY in value or DEFERRED_KEY in value)


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"

    @property
    def terraform_actions(self) -> list[str]:
        """The action list of Terraform's JSON plan; replace is always destroy-before-create."""
        return list(_TERRAFORM_ACTIONS[self])


_TERRAFORM_ACTIONS = {
    Action.CREATE: ("create",),
    Action.UPDATE: ("update",),
    Action.REPLACE: ("delete", "create"),
    Action.DELETE: ("delete",),
    Action.NOOP: ("no-op",),
}


@dataclass(frozen=True)
class AttributeChange:
    """One changed leaf: `path` reads like `stages.build.tasks.package.steps.mvn.command` or
    `paths[0]`; `before` is None for an added key and `after` None for a removed one."""

    path: str
    before: Any
    after: Any
    forces_replacement: bool = False

    def to_dict(self) -> dict:
        return {"path": self.path, "before": self.before, "after": self.after,
                "forces_replacement": self.forces_replacement}

    @classmethod
    def from_dict(cls, data: dict) -> "AttributeChange":
        return cls(data["path"], data["before"], data["after"], data["forces_replacement"])


@dataclass(frozen=True)
class ResourceChange:
    """What happens to one resource, and why. `before`/`after` are None when absent."""

    address: str
    type: str
    name: str
    provider: str
    action: Action
    reason: str
    before: dict | None
    after: dict | None
    attribute_changes: tuple[AttributeChange, ...] = ()
    dependencies: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "address": self.address,
            "type": self.type,
            "name": self.name,
            "provider": self.provider,
            "action": self.action.value,
            "reason": self.reason,
            "before": self.before,
            "after": self.after,
            "attribute_changes": [c.to_dict() for c in self.attribute_changes],
            "dependencies": list(self.dependencies),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ResourceChange":
        return cls(
            address=data["address"],
            type=data["type"],
            name=data["name"],
            provider=data["provider"],
            action=Action(data["action"]),
            reason=data["reason"],
            before=data["before"],
            after=data["after"],
            attribute_changes=tuple(AttributeChange.from_dict(c)
                                    for c in data["attribute_changes"]),
            dependencies=tuple(data["dependencies"]),
        )


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Every resource change of one `plan`, in address order, against one state serial."""

    format_version: str = "1.0"
    changes: tuple[ResourceChange, ...]
    state_lineage: str
    state_serial: int
    destroy: bool
    created_at: str                       # ISO 8601, UTC
    config_dir: str

    @property
    def counts(self) -> tuple[int, int, int]:
        """(to add, to change, to destroy); a replacement counts once as add and once as destroy."""
        add = change = destroy = 0
        for resource_change in self.changes:
            action = resource_change.action
            if action is Action.CREATE:
                add += 1
            elif action is Action.UPDATE:
                change += 1
            elif action is Action.REPLACE:
                add += 1
                destroy += 1
            elif action is Action.DELETE:
                destroy += 1
        return add, change, destroy

    @property
    def has_changes(self) -> bool:
        return any(c.action is not Action.NOOP for c in self.changes)

    def to_dict(self) -> dict:
        return {
            "format_version": self.format_version,
            "changes": [c.to_dict() for c in self.changes],
            "state_lineage": self.state_lineage,
            "state_serial": self.state_serial,
            "destroy": self.destroy,
            "created_at": self.created_at,
            "config_dir": self.config_dir,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Plan":
        return cls(
            format_version=data["format_version"],
            changes=tuple(ResourceChange.from_dict(c) for c in data["changes"]),
            state_lineage=data["state_lineage"],
            state_serial=data["state_serial"],
            destroy=data["destroy"],
            created_at=data["created_at"],
            config_dir=data["config_dir"],
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the plan file atomically: a reader sees the old file or the whole new one."""
        target = Path(path)
        document = {PLAN_FILE_KEY: PLAN_FILE_VERSION, **self.to_dict()}
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=2, ensure_ascii=False)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Plan":
        """Read a plan file; ValueError when it is not one or was written by a newer flowplan."""
        with open(path, encoding="utf-8") as source:
            try:
                document = json.load(source)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} is not a flowplan plan file: {error}") from None
        version = document.get(PLAN_FILE_KEY) if isinstance(document, dict) else None
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(
                f"{path} is not a flowplan plan file (no {PLAN_FILE_KEY!r} version key)")
        if version > PLAN_FILE_VERSION:
            raise ValueError(
                f"{path} is plan format {version}, written by a newer flowplan; this flowplan "
                f"reads plan format {PLAN_FILE_VERSION} at most. Upgrade flowplan or plan again.")
        document = _upgrade(document, version)
        del document[PLAN_FILE_KEY]
        return cls.from_dict(document)


def _upgrade(document: dict, version: int) -> dict:
    """Bring an older plan file to PLAN_FILE_VERSION, one version step at a time."""
    # Format 1 is the first; a format 2 adds a step here: `if version == 1: ...; version = 2`.
    if version < 1:
        raise ValueError(f"unsupported plan format {version}")
    return document

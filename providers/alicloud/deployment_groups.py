"""The ECS instances of a `deployment_group` with an `ecs {}` block, for the flowplan provider.

`ecs { instance_ids = [...] }` names instances; `ecs { tags = {...} }` takes every instance of the
region carrying all those tags (both: the named instances, which must carry the tags). `apply`
resolves them (DescribeInstances), tags each with `flowplan:deployment-group:NAME` = NAME
(`group_tag`: a key per group, so an instance may belong to several groups) with TagResources,
reads whether its Cloud Assistant agent is online (DescribeCloudAssistantStatus), and records
them in the computed attribute `ecs_instances`:

    ecs_instances = {
      "i-bp1abc" = { region = "cn-hangzhou", private_ip = "10.0.0.5", status = "Running",
                     cloud_assistant = true, tagged = true }
    }

Refresh (`refresh`) reads them again: a recorded instance that no longer exists stays in the map
with `status = "NotFound"`, and a tag group gains the instances that carry its tags now, with
`tagged = false` until apply tags them; an instance whose tags stopped matching leaves the group.
`planned_instances` is what the plan proposes from the refreshed state: the instances that exist,
tagged. So what changed outside flowplan shows in the plan as an update of `ecs_instances` (a
removed instance, `tagged` false -> true for a new one). Removing an instance from a group, or
destroying the group, removes the group's tag from the instances that still carry it.

Errors are EcsError (the ECS client's) or GroupError, whose messages are diagnostics' details.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .ecs import EcsClient, EcsError, Instance

GROUP_TAG_PREFIX = "flowplan:deployment-group:"
NOT_FOUND = "NotFound"


def group_tag(group: str) -> str:
    """The tag key that marks an instance as a member of `group` (its value: the name)."""
    return f"{GROUP_TAG_PREFIX}{group}"


class GroupError(Exception):
    """The group's instances cannot be resolved as the config asks."""


def resolve(client: EcsClient, group: str, ecs: Mapping[str, Any],
            prior: Mapping[str, Any] | None = None) -> tuple[dict[str, dict], list[str]]:
    """Resolve, tag and describe the group's instances: (ecs_instances, warnings). Instances of
    `prior` (the recorded map) that are no longer in the group are untagged."""
    ids, tags = list(ecs.get("instance_ids") or []), dict(ecs.get("tags") or {})
    found = client.describe_instances(ids=ids or None, tags=tags or None)
    if ids:
        missing = [i for i in ids if i not in found]
        if missing:
            carrying = f" carrying the tags {_tags_text(tags)}" if tags else ""
            raise GroupError(f"no ECS instance{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(missing)}{carrying} in {client.region}")
    elif not found:
        raise GroupError(f"no ECS instance in {client.region} carries the tags "
                         f"{_tags_text(tags)}")
    key = group_tag(group)
    untagged = [i for i in sorted(found) if found[i].tags.get(key) != group]
    if untagged:
        client.tag(untagged, key, group)
    online = client.cloud_assistant_status(found)
    warnings = [f"{i}: the Cloud Assistant agent is not online, deploys to it will fail"
                for i in sorted(found) if not online.get(i, False)]
    left = [i for i in (prior or {}) if i not in found]
    if left:
        release(client, group, left)
    return {i: _entry(found[i], online.get(i, False), tagged=True) for i in sorted(found)}, \
        warnings


def refresh(client: EcsClient, group: str, ecs: Mapping[str, Any],
            recorded: Mapping[str, Any]) -> dict[str, dict]:
    """The group's instances as they are now (see the module's docstring)."""
    ids, tags = list(ecs.get("instance_ids") or []), dict(ecs.get("tags") or {})
    known = client.describe_instances(ids=sorted({*recorded, *ids}))
    if tags:
        members = client.describe_instances(ids=ids or None, tags=tags)
    else:
        members = {i: known[i] for i in ids if i in known}
    online = client.cloud_assistant_status(members) if members else {}
    current = {i: _entry(members[i], online.get(i, False),
                         tagged=members[i].tags.get(group_tag(group)) == group)
               for i in members}
    for instance_id, entry in recorded.items():
        if instance_id not in known and isinstance(entry, dict):
            current[instance_id] = {**entry, "status": NOT_FOUND, "cloud_assistant": False,
                                    "tagged": False}
    for instance_id in ids:                       # named but never recorded, and gone
        if instance_id not in known and instance_id not in current:
            current[instance_id] = {"region": client.region, "private_ip": "",
                                    "status": NOT_FOUND, "cloud_assistant": False,
                                    "tagged": False}
    return dict(sorted(current.items()))


def planned_instances(refreshed: Mapping[str, Any]) -> tuple[dict[str, dict], list[str]]:
    """What apply would record, from the refreshed map: (instances, missing ids)."""
    planned = {i: {**e, "tagged": True} for i, e in refreshed.items()
               if isinstance(e, dict) and e.get("status") != NOT_FOUND}
    missing = sorted(i for i, e in refreshed.items()
                     if isinstance(e, dict) and e.get("status") == NOT_FOUND)
    return planned, missing


def release(client: EcsClient, group: str, ids: list[str]) -> None:
    """Remove the group's tag from those of `ids` that still exist and carry it."""
    if not ids:
        return
    found = client.describe_instances(ids=ids)
    ours = [i for i in sorted(found) if group_tag(group) in found[i].tags]
    if ours:
        client.untag(ours, group_tag(group))


def _entry(instance: Instance, online: bool, *, tagged: bool) -> dict[str, Any]:
    return {"region": instance.region, "private_ip": instance.private_ip,
            "status": instance.status, "cloud_assistant": online, "tagged": tagged}


def _tags_text(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


__all__ = ["GROUP_TAG_PREFIX", "EcsError", "GroupError", "planned_instances", "refresh", "release",
           "resolve", "group_tag"]

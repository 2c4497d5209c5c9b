"""The resource types the emulator serves and the discovery documents that describe them, in the
unaggregated form every client understands (kubectl falls back to it when the answer to its
aggregated-discovery Accept header is plain `application/json`):

    /version                       version.Info
    /api                           APIVersions ["v1"]
    /api/v1, /apis/{g}/{v}         APIResourceList (resources and their subresources)
    /apis                          APIGroupList
    /apis/{g}                      APIGroup

To serve another kind, add a `ResourceType` to `RESOURCE_TYPES`; the store, the handlers and
discovery pick it up. Controllers live in controller.py.
"""

from __future__ import annotations

from dataclasses import dataclass

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = ["get", "patch", "update"]
VERSION_INFO = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0-flowplan-emulator",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass(frozen=True)
class ResourceType:
    group: str                  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()     # "status", "scale"
    generation: bool = False               # metadata.generation tracks spec changes

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """How Status messages name the resource: `deployments.apps`, `pods`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", False, ("ns",), ("status",)),
    ResourceType("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    ResourceType("", "v1", "Secret", "secrets", True),
    ResourceType("", "v1", "Service", "services", True, ("svc",), ("status",)),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    ResourceType("", "v1", "Pod", "pods", True, ("po",), ("status",)),
    ResourceType("apps", "v1", "Deployment", "deployments", True, ("deploy",),
                 ("status", "scale"), generation=True),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",),
                 ("status", "scale"), generation=True),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("status",),
                 generation=True),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",),
                 ("status", "scale"), generation=True),
)


def find_by_plural(group: str, version: str, plural: str) -> ResourceType | None:
    for resource_type in RESOURCE_TYPES:
        if (resource_type.group, resource_type.version, resource_type.plural) == (
                group, version, plural):
            return resource_type
    return None


def find_by_kind(kind: str) -> ResourceType | None:
    """The type for a kind name as tests write it: `Deployment`, `deployment` or `deployments`."""
    wanted = kind.lower()
    for resource_type in RESOURCE_TYPES:
        if wanted in (resource_type.kind.lower(), resource_type.plural):
            return resource_type
    return None


def group_versions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for resource_type in RESOURCE_TYPES:
        versions = found.setdefault(resource_type.group, [])
        if resource_type.version not in versions:
            versions.append(resource_type.version)
    return found


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": group_versions()[""],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def api_group(group: str) -> dict | None:
    versions = group_versions().get(group)
    if not group or versions is None:
        return None
    listed = [{"groupVersion": f"{group}/{version}", "version": version} for version in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": listed,
            "preferredVersion": listed[0]}


def api_group_list() -> dict:
    groups = [api_group(group) for group in group_versions() if group]
    for group in groups:
        del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(group: str, version: str) -> dict | None:
    resources = []
    for resource_type in RESOURCE_TYPES:
        if (resource_type.group, resource_type.version) != (group, version):
            continue
        entry = {"name": resource_type.plural, "singularName": resource_type.singular,
                 "namespaced": resource_type.namespaced, "kind": resource_type.kind,
                 "verbs": VERBS, "storageVersionHash": ""}
        if resource_type.short_names:
            entry["shortNames"] = list(resource_type.short_names)
        resources.append(entry)
        for subresource in resource_type.subresources:
            scale = subresource == "scale"
            resources.append({
                "name": f"{resource_type.plural}/{subresource}", "singularName": "",
                "namespaced": resource_type.namespaced,
                "group": "autoscaling" if scale else None,
                "version": "v1" if scale else None,
                "kind": "Scale" if scale else resource_type.kind, "verbs": SUBRESOURCE_VERBS})
            if not scale:
                del resources[-1]["group"], resources[-1]["version"]
    if not resources:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

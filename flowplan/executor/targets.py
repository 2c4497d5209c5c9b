"""What deploy steps reach at run time: `RunTargets`.

A `host_deploy` step names a deployment group; the group's hosts are what `apply` recorded in the
state (hosts, pinned host keys, ECS instances). The state never holds a secret, so a host's
`private_key` there is only a `$sensitive` marker: the clear key comes from the config, evaluated
for this run with the run's variables, and is used only when it is the key that was applied (it
hashes to the marker); otherwise the marker stays and the deploy says to apply first. Provider
blocks (`provider "alicloud" {}`: region, credentials) come from the config the same way, secrets
in clear. None of it is ever written anywhere: it lives in the process driving the run.

Any other applied resource's attributes (an `acr_repository` an image_build step pushes to) are
read from the state as they are.

`run_targets` builds them; the run service hands them to each step (StepContext).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowplan.values import Sensitive, is_sensitive_marker, sensitive_matches

GROUP_PREFIX = "deployment_group."


@dataclass(frozen=True)
class RunTargets:
    groups: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)     # by group name
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # by provider
    artifact_url: str | None = None
    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # by address

    def applied_resource(self, address: str) -> Mapping[str, Any] | None:
        """A resource's applied state attributes (`acr_repository.app`): what the state holds,
        so never a secret in clear."""
        found = self.resources.get(address)
        return found if isinstance(found, Mapping) else None

    def deployment_group(self, name: str) -> Mapping[str, Any] | None:
        """A group's applied attributes by name (`web` or `deployment_group.web`)."""
        return self.groups.get(name.removeprefix(GROUP_PREFIX))

    def provider_block(self, name: str) -> Mapping[str, Any] | None:
        return self.providers.get(name)

    def __repr__(self) -> str:                  # never a key, even by accident
        return f"RunTargets(groups={sorted(self.groups)}, providers={sorted(self.providers)})"


def run_targets(state: Mapping[str, Mapping[str, Any]], config: Any = None,
                artifact_url: str | None = None) -> RunTargets:
    """The deployment groups of `state` (attributes by address) with the clear private keys
    `config` (a loaded flowplan.config Config, or None) gives for them, and its provider
    blocks."""
    configured = {}
    providers: dict[str, Mapping[str, Any]] = {}
    if config is not None:
        configured = {address: resource.attributes
                      for address, resource in config.resources.items()
                      if address.startswith(GROUP_PREFIX)}
        providers = {name: _clear(block) for name, block in (config.providers or {}).items()
                     if isinstance(block, Mapping)}
    groups = {}
    for address, attributes in state.items():
        if address.startswith(GROUP_PREFIX) and isinstance(attributes, Mapping):
            groups[address.removeprefix(GROUP_PREFIX)] = _with_keys(
                attributes, configured.get(address) or {})
    resources = {address: attributes for address, attributes in state.items()
                 if isinstance(attributes, Mapping)}
    return RunTargets(groups, providers, artifact_url, resources)


def _with_keys(applied: Mapping[str, Any], configured: Mapping[str, Any]) -> dict[str, Any]:
    """`applied` with each host's `private_key` marker replaced by the configured key that
    hashes to it."""
    hosts = applied.get("host")
    wanted = configured.get("host") if isinstance(configured.get("host"), Mapping) else {}
    if not isinstance(hosts, Mapping):
        return dict(applied)
    merged = {}
    for label, host in hosts.items():
        host = dict(host) if isinstance(host, Mapping) else {}
        marker = host.get("private_key")
        given = (wanted.get(label) or {}).get("private_key") if isinstance(
            wanted.get(label), Mapping) else None
        clear = given.value if isinstance(given, Sensitive) else None
        if is_sensitive_marker(marker) and isinstance(clear, str) and \
                sensitive_matches(marker, clear):
            host["private_key"] = clear
        merged[label] = host
    return {**applied, "host": merged}


def _clear(value: Any) -> Any:
    if isinstance(value, Sensitive):
        return _clear(value.value)
    if isinstance(value, Mapping):
        return {k: _clear(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clear(v) for v in value]
    return value

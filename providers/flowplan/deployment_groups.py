"""What the flowplan provider does for a `deployment_group` beyond registering it in the store: the
checks of its `host` blocks, the host keys it plans, pins at apply and looks at again on refresh.

Host keys (`host_keys`, by host label, `SHA256:...` fingerprints):

- `apply` reaches every host at once (SSH hosts through providers.ssh's transport, one event
  loop for all; local ones through the password database), fails the resource with one
  diagnostic per host that is unreachable, refuses the login, lacks the user or presents another
  key than the pinned one, and otherwise records each SSH host's key. A host keeps its pinned key
  while its address and port stay; a new or moved host has its key learned by the apply that
  the plan showed `(known after apply)` for.
- Refresh (`read`) reads each pinned host's key without logging in. A host that does not answer
  is a warning and changes nothing. A host presenting another key is a warning naming both
  fingerprints, and `plan` then proposes to replace the group because of that host's key (the
  create half learns the new key); `flowplan apply --replace ADDR` re-pins without a refresh.
  What refresh saw is kept by the provider instance between its `read` and `plan` (`KeyDrift`),
  since the state `plan` receives keeps the pinned keys.

Transports are imported inside these functions, never when the provider is loaded.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowplan.providers import ProviderDiagnostic
from flowplan.values import KNOWN_AFTER_APPLY, is_sensitive_marker, is_unknown_marker

CONNECT_TIMEOUT = 10.0          # seconds for each host, at apply and refresh
MAX_AT_ONCE = 32                # hosts probed at once (threads waiting on the one SSH loop)
ENVIRONMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?\Z")
SIMPLE_LABEL = re.compile(r"[A-Za-z0-9_-]+\Z")
PLACEMENT = ("connection", "address", "port")     # a host whose these change is another machine


# -- validate --------------------------------------------------------------------------------------

def host_problems(config: Mapping[str, Any]) -> list[ProviderDiagnostic]:
    """What is wrong with the `host` blocks of a deployment group's config (with markers)."""
    hosts = config.get("host")
    found: list[ProviderDiagnostic] = []
    for label, host in hosts.items() if isinstance(hosts, dict) else ():
        if isinstance(host, dict):
            found += _host_problems(str(label), host)
    return found


def _host_problems(label: str, host: Mapping[str, Any]) -> list[ProviderDiagnostic]:
    at = f"host.{label}"
    found: list[ProviderDiagnostic] = []
    connection = host.get("connection", "ssh")
    address = host.get("address")
    if connection == "local":
        for key in ("key_file", "private_key"):
            if host.get(key) is not None:
                found.append(ProviderDiagnostic(
                    f"`{key}` is not used with connection = \"local\"",
                    detail=f"this host is this machine, reached without SSH; remove `{key}`",
                    attribute=f"{at}.{key}"))
    elif address is None:
        found.append(ProviderDiagnostic(
            "Missing `address`",
            detail='a host reached over SSH needs `address`, a host name or IP address; for '
                   'this machine without SSH, write connection = "local"',
            attribute=at))
    if isinstance(address, str) and (not address or address.startswith("-") or
                                     any(c.isspace() or c in "\x00/@" for c in address)):
        found.append(ProviderDiagnostic(
            "Invalid `address`", detail=f"{address!r} is not a host name or IP address",
            attribute=f"{at}.address"))
    user = host.get("user")
    if isinstance(user, str) and not USER_NAME.match(user):
        found.append(ProviderDiagnostic(
            "Invalid `user`", detail=f"{user!r} is not a user name",
            attribute=f"{at}.user"))
    private_key = host.get("private_key")
    if private_key is not None and not is_sensitive_marker(private_key):
        found.append(ProviderDiagnostic(
            "`private_key` must be a sensitive value",
            detail="a private key given as text or with file() would be written into the "
                   "state and the store. Use key_file = \"PATH\" instead (the "
                   "file is read when connecting, never stored), the SSH agent (neither "
                   "attribute), or a variable declared with sensitive = true",
            attribute=f"{at}.private_key"))
    elif private_key is not None and host.get("key_file") is not None and connection != "local":
        found.append(ProviderDiagnostic(
            "Both `key_file` and `private_key` are set",
            detail="keep one of them", attribute=f"{at}.private_key"))
    variables = host.get("vars")
    for name in variables if isinstance(variables, dict) else ():
        if not ENVIRONMENT_NAME.match(str(name)):
            found.append(ProviderDiagnostic(
                "Invalid name in `vars`",
                detail=f"{str(name)!r} cannot be an environment variable name (letters, "
                       "digits and _, not starting with a digit)",
                attribute=f"{at}.vars"))
    return found


# -- plan ------------------------------------------------------------------------------------------

class KeyDrift:
    """What the last refresh of each deployment group saw, until the next refresh of it, when a
    host presented another key than the pinned one: the pinned keys and where each host was
    (`pins`, `places`), and the changed ones (label: (pinned, presented)). Thread-safe: refresh
    reads resources on a thread pool."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[tuple, Refreshed] = {}

    def record(self, scope: tuple, refreshed: Refreshed | None) -> None:
        with self._lock:
            if refreshed is not None and refreshed.changed:
                self._found[scope] = refreshed
            else:
                self._found.pop(scope, None)

    def of(self, scope: tuple) -> Refreshed | None:
        with self._lock:
            return self._found.get(scope)


@dataclass(frozen=True)
class Refreshed:
    pins: dict[str, str]                          # label: pinned fingerprint
    places: dict[str, tuple]                      # label: (connection, address, port)
    changed: dict[str, tuple[str, str]]           # label: (pinned, presented)


def planned_host_keys(config: Mapping[str, Any], prior: Mapping[str, Any] | None,
                      refreshed: Refreshed | None) -> tuple[dict[str, Any], tuple[str, ...]]:
    """`host_keys` as planned, and the paths of keys whose change forces a replacement.

    An SSH host keeps its pinned key while its connection, address and port stay the same;
    otherwise (new, moved, or no prior) its key is known after apply. A pinned key that the
    last refresh saw replaced by another is planned unknown, and forces the replacement; the
    replacement (planned without a prior) keeps the other hosts' pinned keys, so only the
    changed one is learned again.
    """
    if prior is not None:
        prior_keys = _mapping(prior.get("host_keys"))
        prior_places = {label: _place(host) for label, host in _mapping(prior.get("host")).items()
                        if isinstance(host, dict)}
    elif refreshed is not None:
        prior_keys, prior_places = refreshed.pins, refreshed.places
    else:
        prior_keys, prior_places = {}, {}
    changed = refreshed.changed if refreshed is not None else {}
    keys: dict[str, Any] = {}
    forcing: list[str] = []
    for label, host in _mapping(config.get("host")).items():
        if not isinstance(host, dict) or host.get("connection", "ssh") == "local":
            continue
        pinned = prior_keys.get(label)
        if not isinstance(pinned, str) or prior_places.get(label) != _place(host):
            keys[label] = KNOWN_AFTER_APPLY.marker()
        elif label in changed and changed[label][0] == pinned:
            keys[label] = KNOWN_AFTER_APPLY.marker()
            if prior is not None:
                forcing.append(f"host_keys.{label}" if SIMPLE_LABEL.match(label)
                               else "host_keys")
        else:
            keys[label] = pinned
    return keys, tuple(dict.fromkeys(forcing))


def refreshed_keys(attributes: Mapping[str, Any],
                   changed: dict[str, tuple[str, str]]) -> Refreshed:
    """What a refresh saw of a group recorded with `attributes`."""
    return Refreshed(
        pins={k: v for k, v in _mapping(attributes.get("host_keys")).items()
              if isinstance(v, str)},
        places={label: _place(host) for label, host in _mapping(attributes.get("host")).items()
                if isinstance(host, dict)},
        changed=dict(changed))


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _place(host: Mapping[str, Any]) -> tuple:
    return tuple(_canonical(host.get(key, _DEFAULTS[key])) for key in PLACEMENT)


def _canonical(value: Any) -> Any:
    return value if isinstance(value, (str, int, type(None))) and type(value) is not bool \
        else repr(value)


_DEFAULTS = {"connection": "ssh", "address": None, "port": 22}


# -- apply -----------------------------------------------------------------------------------------

def pin_host_keys(address: str, config: Mapping[str, Any], planned: Mapping[str, Any],
                  working_dir: Path | None,
                  timeout: float = CONNECT_TIMEOUT) -> tuple[dict[str, str], list[ProviderDiagnostic]]:
    """Reach every host of the group: the SSH hosts' keys by label, or why it cannot be applied.

    `config` has the clear values (a private key); `planned` the planned `host_keys`: a known
    key there is pinned, and a host presenting another one is refused.
    """
    from flowplan_providers.flowplan.deploy.hosts import host_target, transport_for

    hosts = config.get("host")
    hosts = hosts if isinstance(hosts, dict) else {}
    planned_keys = planned.get("host_keys")
    planned_keys = planned_keys if isinstance(planned_keys, dict) else {}
    targets = [host_target(label, host if isinstance(host, dict) else {},
                           _known(planned_keys.get(label)))
               for label, host in sorted(hosts.items())]
    if not targets:
        return {}, []
    transports: dict[str, Any] = {}
    for target in targets:
        if target.connection not in transports:
            transports[target.connection] = transport_for(target.connection, working_dir,
                                                          timeout)
    try:
        with ThreadPoolExecutor(max_workers=min(MAX_AT_ONCE, len(targets))) as pool:
            probes = list(pool.map(lambda t: transports[t.connection].probe(t), targets))
    finally:
        for transport in transports.values():
            transport.close()
    keys: dict[str, str] = {}
    problems: list[ProviderDiagnostic] = []
    for target, probe in zip(targets, probes):
        at = f"host.{target.name}"
        if not probe.reachable:
            problems.append(ProviderDiagnostic(f"Host {target.name} is unreachable",
                                               detail=probe.problem or "", attribute=at))
        elif target.host_key and probe.host_key != target.host_key:
            problems.append(ProviderDiagnostic(
                f"Host key of {target.name} changed", detail=f"{probe.problem or ''}".rstrip()
                + f" (flowplan apply --replace {address})", attribute=at))
        elif probe.user_exists is False:
            problems.append(ProviderDiagnostic(
                f"User {target.user} does not exist on {target.name}",
                detail=probe.problem or "", attribute=f"{at}.user"))
        elif probe.problem:
            problems.append(ProviderDiagnostic(f"Cannot use host {target.name}",
                                               detail=probe.problem, attribute=at))
        elif target.connection == "ssh" and probe.host_key:
            keys[target.name] = probe.host_key
    return keys, problems


def _known(value: Any) -> str | None:
    return value if isinstance(value, str) and not is_unknown_marker(value) else None


# -- read ------------------------------------------------------------------------------------------

def look_at_host_keys(address: str, attributes: Mapping[str, Any], working_dir: Path | None,
                      timeout: float = CONNECT_TIMEOUT
                      ) -> tuple[dict[str, tuple[str, str]], list[ProviderDiagnostic]]:
    """Each pinned SSH host's key as the host presents it now, without logging in: the changed
    ones (label: (pinned, presented)) and a warning for each changed or silent host."""
    from flowplan_providers.flowplan.deploy.hosts import host_targets, transport_for

    targets = [t for t in host_targets(attributes) if t.connection == "ssh" and t.host_key]
    if not targets:
        return {}, []
    transport = transport_for("ssh", working_dir, timeout)
    try:
        with ThreadPoolExecutor(max_workers=min(MAX_AT_ONCE, len(targets))) as pool:
            probes = list(pool.map(transport.host_key, targets))   # type: ignore[attr-defined]
    finally:
        transport.close()
    changed: dict[str, tuple[str, str]] = {}
    warnings: list[ProviderDiagnostic] = []
    for target, probe in zip(targets, probes):
        if not probe.reachable or not probe.host_key:
            warnings.append(ProviderDiagnostic(
                f"Host {target.name} of {address} did not answer",
                detail=f"{probe.problem}; its host key was not checked, and the state keeps "
                       "what the last apply recorded", severity="warning"))
        elif probe.host_key != target.host_key:
            changed[target.name] = (target.host_key or "", probe.host_key)
            warnings.append(ProviderDiagnostic(
                f"Host key of {target.name} changed",
                detail=f"{target.name} ({target.address}:{target.port}) presents "
                       f"{probe.host_key}, but {target.host_key} is pinned; deploys to it are "
                       "refused. If the host was rebuilt, check the new key, then apply the "
                       f"replacement of {address} this plan proposes (or flowplan apply "
                       f"--replace {address}), which pins it",
                severity="warning"))
    return changed, warnings

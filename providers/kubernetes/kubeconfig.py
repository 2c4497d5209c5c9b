"""Where a cluster is and how to log in to it, from ClusterSettings: a kubeconfig file's context
(read here, not by the client's loader, which writes inline keys to temporary files and runs
exec plugins) or `host`/`token`/`ca`.

A kubeconfig is input from outside: it is read with a size limit and yaml.safe_load, every
field is checked for its type, and a broken one is reported naming the file and what is wrong,
never with a token or key in the message. Supported users: `token`, `tokenFile`, and client
certificates (`client-certificate(-data)` + `client-key(-data)`); inline keys are handed to the
TLS library through an anonymous in-memory file (memfd), never written to disk. `exec` and
`auth-provider` users are refused with a message saying to use a token.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_KUBECONFIG_BYTES = 1024 * 1024
MAX_TOKEN_FILE_BYTES = 64 * 1024


class KubeconfigError(Exception):
    """A kubeconfig or the cluster settings cannot be used; the text names the file, never a
    secret."""


@dataclass
class Endpoint:
    """A resolved API server address and credentials (the token in no repr)."""

    name: str
    server: str
    ca_pem: str | None = None
    insecure: bool = False
    token: str | None = field(default=None, repr=False)
    client_cert_file: str | None = None
    client_key_file: str | None = field(default=None, repr=False)
    _descriptors: list[int] = field(default_factory=list, repr=False)

    def close(self) -> None:
        for descriptor in self._descriptors:
            try:
                os.close(descriptor)
            except OSError:
                pass
        self._descriptors.clear()


def endpoint_from(settings: Any) -> Endpoint:
    """The Endpoint of ClusterSettings `settings`; KubeconfigError."""
    if settings.kubeconfig:
        endpoint = read_kubeconfig(Path(os.path.expanduser(settings.kubeconfig)),
                                   settings.context)
        if settings.insecure_skip_tls_verify:
            endpoint.insecure = True
        return endpoint
    ca_pem = _ca_text(settings.ca) if settings.ca else None
    return Endpoint(name=str(settings.host), server=str(settings.host), ca_pem=ca_pem,
                    insecure=bool(settings.insecure_skip_tls_verify), token=settings.token)


def read_kubeconfig(path: Path, context: str | None) -> Endpoint:
    """The Endpoint of `context` (or the current context) in the kubeconfig at `path`."""
    shown = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KUBECONFIG_BYTES + 1)
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig {shown}: cannot be read ({exc.strerror or exc})"
                              ) from None
    if len(data) > MAX_KUBECONFIG_BYTES:
        raise KubeconfigError(f"kubeconfig {shown}: larger than "
                              f"{MAX_KUBECONFIG_BYTES // 1024} KiB")
    try:
        document = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise KubeconfigError(f"kubeconfig {shown}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise KubeconfigError(f"kubeconfig {shown}: not valid YAML{where}") from None
    if not isinstance(document, dict):
        raise KubeconfigError(f"kubeconfig {shown}: not a kubeconfig (a mapping with clusters, "
                              "users and contexts)")
    chosen = context or document.get("current-context")
    if not isinstance(chosen, str) or not chosen:
        raise KubeconfigError(f"kubeconfig {shown}: no current-context; set `context`")
    contexts = _named(document, "contexts", "context", shown)
    if chosen not in contexts:
        offered = ", ".join(sorted(contexts)) or "none"
        raise KubeconfigError(f"kubeconfig {shown} has no context {chosen!r} (it has: "
                              f"{offered})")
    entry = contexts[chosen]
    cluster_name, user_name = entry.get("cluster"), entry.get("user")
    clusters = _named(document, "clusters", "cluster", shown)
    if cluster_name not in clusters:
        raise KubeconfigError(f"kubeconfig {shown}: context {chosen!r} names cluster "
                              f"{cluster_name!r}, which it does not define")
    cluster = clusters[cluster_name]
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise KubeconfigError(f"kubeconfig {shown}: cluster {cluster_name!r} has no server "
                              "address (https://HOST:PORT)")
    base = path.parent
    name = f"{chosen} ({server})"
    endpoint = Endpoint(name=name, server=server,
                        insecure=cluster.get("insecure-skip-tls-verify") is True)
    if cluster.get("certificate-authority-data"):
        endpoint.ca_pem = _decoded(cluster["certificate-authority-data"],
                                   f"kubeconfig {shown}: certificate-authority-data")
    elif cluster.get("certificate-authority"):
        endpoint.ca_pem = _read_text(base, cluster["certificate-authority"],
                                     f"kubeconfig {shown}: certificate-authority")
    users = _named(document, "users", "user", shown)
    if user_name is None:
        return endpoint
    if user_name not in users:
        raise KubeconfigError(f"kubeconfig {shown}: context {chosen!r} names user "
                              f"{user_name!r}, which it does not define")
    _user_credentials(endpoint, users[user_name], base, f"kubeconfig {shown}: user "
                                                           f"{user_name!r}")
    return endpoint


def _user_credentials(endpoint: Endpoint, user: dict, base: Path, what: str) -> None:
    if user.get("exec") or user.get("auth-provider"):
        raise KubeconfigError(f"{what} logs in through an exec plugin or auth provider, which "
                              "flowplan does not run: give the user a token (a service "
                              "account's) instead")
    token = user.get("token")
    if token is None and user.get("tokenFile"):
        token = _read_text(base, user["tokenFile"], f"{what}: tokenFile",
                           MAX_TOKEN_FILE_BYTES).strip()
    if token is not None:
        if not isinstance(token, str) or not token.strip() or any(c in token for c in "\r\n\0"):
            raise KubeconfigError(f"{what}: the token is not a line of text")
        endpoint.token = token.strip()
    cert = _pem(user, "client-certificate", base, what)
    key = _pem(user, "client-key", base, what)
    if (cert is None) != (key is None):
        raise KubeconfigError(f"{what}: give both a client certificate and its key")
    if cert is not None and key is not None:
        endpoint.client_cert_file = _memory_file(endpoint, cert, "client-certificate")
        endpoint.client_key_file = _memory_file(endpoint, key, "client-key")
    if user.get("username") or user.get("password"):
        raise KubeconfigError(f"{what}: basic authentication (username/password) is not "
                              "supported: give a token")


def _named(document: dict, key: str, inner: str, shown: str) -> dict[str, dict]:
    items = document.get(key) or []
    if not isinstance(items, list):
        raise KubeconfigError(f"kubeconfig {shown}: `{key}` is not a list")
    found: dict[str, dict] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                or not isinstance(item.get(inner) or {}, dict):
            raise KubeconfigError(f"kubeconfig {shown}: an entry of `{key}` has no name or "
                                  f"no `{inner}` mapping")
        found[item["name"]] = item.get(inner) or {}
    return found


def _pem(user: dict, key: str, base: Path, what: str) -> str | None:
    if user.get(f"{key}-data"):
        return _decoded(user[f"{key}-data"], f"{what}: {key}-data")
    if user.get(key):
        return _read_text(base, user[key], f"{what}: {key}")
    return None


def _decoded(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise KubeconfigError(f"{what} is not base64 text")
    try:
        return base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        raise KubeconfigError(f"{what} is not base64-encoded PEM") from None


def _read_text(base: Path, name: Any, what: str, limit: int = MAX_KUBECONFIG_BYTES) -> str:
    if not isinstance(name, str) or not name or "\0" in name:
        raise KubeconfigError(f"{what} is not a file name")
    path = base / os.path.expanduser(name)
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise KubeconfigError(f"{what}: {path} cannot be read ({exc.strerror or exc})"
                              ) from None
    if len(data) > limit:
        raise KubeconfigError(f"{what}: {path} is too large")
    return data.decode("utf-8", "replace")


def _ca_text(ca: str) -> str:
    """`ca` as PEM text: the text itself when it is PEM, else the file it names."""
    if "-----BEGIN" in ca:
        return ca
    return _read_text(Path.cwd(), ca, "ca")


def _memory_file(endpoint: Endpoint, text: str, label: str) -> str:
    """A path the TLS library can open that holds `text` in memory only."""
    try:
        descriptor = os.memfd_create(f"flowplan-{label}", 0)
    except (AttributeError, OSError):
        raise KubeconfigError("inline client keys need memfd_create (Linux); give the key as "
                              "a file (client-key) or use a token") from None
    endpoint._descriptors.append(descriptor)
    os.write(descriptor, text.encode("utf-8"))
    return f"/proc/self/fd/{descriptor}"

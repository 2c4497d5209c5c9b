"""Where `flowplan serve` receives a webhook's deliveries: `<server url>/hooks/NAME`.

The server's address comes from the `flowplan { server { host, port, url } }` settings (providers
get them in ConfigureRequest.settings): `url` when set, else `http://HOST:PORT`. Both webhook
providers (github, git) register this address; a loopback one is fine for a git hook on this
machine and useless to GitHub, which `loopback` lets the github provider say. Standard library
only.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import quote, urlsplit

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def server_url(settings: dict[str, Any] | None) -> str:
    """The address others reach `flowplan serve` at, without a trailing slash."""
    server = (settings or {}).get("server") or {}
    url = server.get("url")
    if isinstance(url, str) and url:
        return url.rstrip("/")
    host = server.get("host") or DEFAULT_HOST
    port = server.get("port") or DEFAULT_PORT
    if ":" in str(host):                      # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{port}"


def delivery_url(settings: dict[str, Any] | None, name: str) -> str:
    """`<server url>/hooks/NAME` for the webhook block labelled `name`."""
    return f"{server_url(settings)}/hooks/{quote(name, safe='')}"


def loopback(url: str) -> bool:
    """Whether `url` names this machine only (localhost, 127.0.0.0/8, ::1, 0.0.0.0)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified

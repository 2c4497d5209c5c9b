"""The `registry` provider: any registry speaking the Docker Registry HTTP API v2, with basic or
Bearer-token auth. It has no resource types (repositories appear on first push): its block is
checked when a plan or an apply configures it (`provider`). The HTTP (the v2 ping, the token
flow, tag digests) is `client`, which the image_build step uses too.

Installed as flowplan_providers.registry, found through the `registry` entry point of
`flowplan.providers`. Nothing is imported eagerly: importing the client must not need core.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RegistryProvider"]


def __getattr__(name: str) -> Any:
    if name == "RegistryProvider":
        from flowplan_providers.registry.provider import RegistryProvider

        return RegistryProvider
    raise AttributeError(name)

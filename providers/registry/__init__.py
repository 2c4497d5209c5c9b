"""The `registry` provider: any registry speaking the Docker Registry HTTP API v2, with basic or
Bearer-token auth. The HTTP (the v2 ping, the token flow, tag digests) is
flowplan_providers.registry.client, which the image_build step uses too.

Installed as flowplan_providers.registry.
"""

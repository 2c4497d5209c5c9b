"""A Docker token-auth server for tests: the JWTs that Docker Distribution's `auth: token`
trusts, for the basic credentials it is given (tests/support/registry.py starts it with a real
docker-registry: `start_registry(dir, users=..., auth="token")`).

    with TokenService(directory, users={"ci": "s3cret"}) as service: ...

On its own: `python -m tests.emulators.registry_token --dir DIR --user NAME:PASSWORD [--port N]`.
"""

from .server import ISSUER, SERVICE, TokenRequest, TokenService, libtrust_key_id

__all__ = ["ISSUER", "SERVICE", "TokenRequest", "TokenService", "libtrust_key_id"]

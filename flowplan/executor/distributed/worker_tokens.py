"""Worker tokens: what a `flowplan worker` on another machine shows the server's worker routes
(flowplan.server.worker_api) to move a task's artifacts and caches.

A worker token reads `fpw_<id>_<secret>`: a public id (listed by `flowplan token list`, revoked
by `flowplan token revoke ID`) and a 256-bit URL-safe secret, of which the store keeps only the
SHA-256, compared in constant time. It names a worker, not a user: the prefix differs from an
API token's (`fpt_`), so neither is taken for the other. The worker reads it from
`$FLOWPLAN_WORKER_TOKEN`, never from its command line. Malformed input is an answer of None.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flowplan.bearer_tokens import TokenKind, UseNotes, secret_matches

TOKEN_VARIABLE = "FLOWPLAN_WORKER_TOKEN"
TOKEN_PREFIX = "fpw_"
WORKER_TOKENS = TokenKind(TOKEN_PREFIX)


def create_worker_token(store: Any, worker: str, *, by: str | None = None) -> str:
    """A new token for worker `worker`: returned once, only its hash stored (ValueError for a
    name the store refuses)."""
    token_id, secret_hash, token = WORKER_TOKENS.new(
        lambda taken: store.get_worker_token(taken) is not None)
    store.add_worker_token(token_id, worker, secret_hash, by=by)
    return token


def token_id_of(token: str) -> str | None:
    parsed = WORKER_TOKENS.parse(token)
    return parsed[0] if parsed else None


class WorkerTokens:
    """Checks worker tokens against a store; safe to share between threads."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._uses = UseNotes()

    def worker_for(self, token: object) -> str | None:
        """The worker a token names; None when it is malformed, unknown, revoked or wrong."""
        parsed = WORKER_TOKENS.parse(token)
        if parsed is None:
            return None
        token_id, secret = parsed
        record = self._store.get_worker_token(token_id)
        if record is None or not secret_matches(secret, record.secret_hash):
            return None
        if self._uses.due(token_id, record.last_used_at, datetime.now(timezone.utc)):
            self._store.touch_worker_token(token_id)
        return record.worker

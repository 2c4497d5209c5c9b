"""Worker tokens: what a `flowplan worker` on another machine shows the server's worker routes
(flowplan.server.worker_api) to move a task's artifacts and caches.

A worker token reads `fpw_<id>_<secret>`: a public id (listed by `flowplan token list`, revoked
by `flowplan token revoke ID`) and a 256-bit URL-safe secret, of which the store keeps only the
SHA-256, compared in constant time. It names a worker, not a user: the prefix differs from an
API token's (`fpt_`), so neither is taken for the other. The worker reads it from
`$FLOWPLAN_WORKER_TOKEN`, never from its command line. Malformed input is an answer of None.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

TOKEN_VARIABLE = "FLOWPLAN_WORKER_TOKEN"
TOKEN_PREFIX = "fpw_"
MAX_TOKEN_LENGTH = 200
SECRET_BYTES = 32
TOKEN_ID_BYTES = 8
TOUCH_INTERVAL = timedelta(minutes=1)

_TOKEN = re.compile(r"fpw_([0-9a-f]{4,32})_([A-Za-z0-9_-]{20,128})")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def create_worker_token(store: Any, worker: str, *, by: str | None = None) -> str:
    """A new token for worker `worker`: returned once, only its hash stored (ValueError for a
    name the store refuses)."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    while True:
        token_id = secrets.token_hex(TOKEN_ID_BYTES)
        if store.get_worker_token(token_id) is None:
            break
    store.add_worker_token(token_id, worker, _sha256(secret), by=by)
    return f"{TOKEN_PREFIX}{token_id}_{secret}"


def token_id_of(token: str) -> str | None:
    match = _TOKEN.fullmatch(token) if type(token) is str else None
    return match.group(1) if match else None


class WorkerTokens:
    """Checks worker tokens against a store; safe to share between threads."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._touched: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def worker_for(self, token: object) -> str | None:
        """The worker a token names; None when it is malformed, unknown, revoked or wrong."""
        if type(token) is not str or len(token) > MAX_TOKEN_LENGTH:
            return None
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        token_id, secret = match.groups()
        record = self._store.get_worker_token(token_id)
        if record is None:
            return None
        if not hmac.compare_digest(_sha256(secret).encode("ascii"),
                                   record.secret_hash.encode("ascii")):
            return None
        now = datetime.now(timezone.utc)
        with self._lock:
            noted = self._touched.get(token_id, record.last_used_at)
            fresh = noted is None or now - noted >= TOUCH_INTERVAL
            if fresh:
                self._touched[token_id] = now
        if fresh:
            self._store.touch_worker_token(token_id)
        return record.worker

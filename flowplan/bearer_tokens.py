"""Bearer tokens as flowplan hands them out: `PREFIX<id>_<secret>`, a public id (what `flowplan
token list` shows and `token revoke` takes) and a 256-bit URL-safe secret, of which the store
keeps only the SHA-256, compared in constant time.

Two kinds share this shape and differ by prefix, so neither is ever taken for the other: API
tokens of users (`fpt_`, flowplan.server.auth) and worker tokens (`fpw_`,
flowplan.executor.distributed.worker_tokens). Each kind keeps its records in its own store table;
this module only makes, reads and checks the text, and throttles how often a use is written down.
Malformed input is an answer of None, never an exception.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_TOKEN_LENGTH = 200
SECRET_BYTES = 32                       # 256 bits
TOKEN_ID_BYTES = 8                      # 16 hex digits: public, unique, not a secret
TOUCH_INTERVAL = timedelta(minutes=1)   # how often a token's use is written down


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class TokenKind:
    """One kind of token, known by its prefix (`fpt_`, `fpw_`)."""

    prefix: str

    def new(self, id_taken: Callable[[str], bool]) -> tuple[str, str, str]:
        """A fresh token: (its id, the SHA-256 of its secret to store, the text to hand out
        once). `id_taken` says whether the store already holds an id."""
        secret = secrets.token_urlsafe(SECRET_BYTES)
        while True:
            token_id = secrets.token_hex(TOKEN_ID_BYTES)
            if not id_taken(token_id):
                break
        return token_id, sha256_hex(secret), f"{self.prefix}{token_id}_{secret}"

    def parse(self, token: object) -> tuple[str, str] | None:
        """(id, secret) of a well-formed token of this kind; None for anything else."""
        if type(token) is not str or len(token) > MAX_TOKEN_LENGTH:
            return None
        match = re.fullmatch(re.escape(self.prefix) + r"([0-9a-f]{4,32})_([A-Za-z0-9_-]{20,128})",
                             token)
        return (match.group(1), match.group(2)) if match else None


def secret_matches(secret: str, secret_hash: str) -> bool:
    """Whether `secret` hashes to the stored `secret_hash`, compared in constant time."""
    return hmac.compare_digest(sha256_hex(secret).encode("ascii"), secret_hash.encode("ascii"))


class UseNotes:
    """When each token was last used, so a busy token's use is written to the store at most once
    per TOUCH_INTERVAL. Safe to share between threads."""

    def __init__(self) -> None:
        self._noted: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def due(self, token_id: str, last_used_at: datetime | None, now: datetime) -> bool:
        """Whether this use should be written down (and, if so, it is noted as written)."""
        with self._lock:
            noted = self._noted.get(token_id, last_used_at)
            if noted is not None and now - noted < TOUCH_INTERVAL:
                return False
            self._noted[token_id] = now
            return True

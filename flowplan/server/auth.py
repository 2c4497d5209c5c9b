"""Who is asking: passwords, API tokens and dashboard sessions, checked against the store.

`Authenticator` makes and checks the three ways into the server:

- Passwords are hashed with argon2id (argon2-cffi's `PasswordHasher`, RFC 9106 parameters). A
  name nobody has is checked against a dummy hash made with the same parameters, so how long a
  login takes does not tell which names exist; a hash made with older parameters is replaced on
  the next good login.
- API tokens read `fpt_<id>_<secret>`: a short random public id (listed by `flowplan token
  list`, named in `changes`) and a 256-bit URL-safe secret. Only the SHA-256 of the secret is
  stored; a token is shown once, when it is made. The hash is compared in constant time. Use is
  noted (`last_used_at`) at most once a minute per token, so most requests write nothing.
- A session is a 256-bit cookie value, stored as its SHA-256, with a CSRF token of its own and
  an expiry. A removed user has no sessions and no tokens (the store drops them with the user).

Everything that comes from outside is bounded before it is looked at: names of at most
`MAX_USER_NAME` characters fit for a terminal (the CLI's rules), passwords of at most
`MAX_PASSWORD_BYTES` bytes, tokens and cookies of at most `MAX_TOKEN_LENGTH` characters.
An Authenticator made for a team (`flowplan serve --team`) also answers whether a user is a
member of it (`is_member`): the routers refuse everyone else, whatever their password or token.

Malformed input is an answer of None (or False), never an exception. Nothing here knows HTTP:
the cookie's and the form field's names are constants for the routers to use.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from flowplan.bearer_tokens import (MAX_TOKEN_LENGTH, SECRET_BYTES, TokenKind, UseNotes,
                                    secret_matches, sha256_hex)
from flowplan.store.users import MAX_USER_NAME

if TYPE_CHECKING:
    from flowplan.store import Store

SESSION_COOKIE = "flowplan_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

TOKEN_PREFIX = "fpt_"
API_TOKENS = TokenKind(TOKEN_PREFIX)
MAX_PASSWORD_BYTES = 1024
MAX_DESCRIPTION = 200
_COOKIE = re.compile(r"[A-Za-z0-9_-]{20,128}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNDECODABLE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True)
class Session:
    """A logged-in browser: the cookie value it holds (only ever in the cookie and here), the
    user, the CSRF token its forms carry, and when it ends."""

    cookie: str
    user: str
    csrf: str
    expires_at: datetime


def fit_user_name(name: object) -> bool:
    """Whether `name` can name a user: text of 1 to MAX_USER_NAME characters, not blank, no
    control characters, UTF-8 (the rules `flowplan user add` applies)."""
    return (type(name) is str and 0 < len(name) <= MAX_USER_NAME and bool(name.strip())
            and not _CONTROL.search(name) and not _UNDECODABLE.search(name))


def _password_bytes(password: object) -> bytes | None:
    if type(password) is not str or len(password) > MAX_PASSWORD_BYTES:
        return None
    try:
        data = password.encode("utf-8")
    except UnicodeEncodeError:          # lone surrogates: not text anyone typed
        return None
    return data if len(data) <= MAX_PASSWORD_BYTES else None


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Authenticator:
    """Passwords, API tokens and sessions over a Store; safe to share between threads."""

    def __init__(self, store: Store, *, session_ttl: timedelta = timedelta(hours=12),
                 hasher: PasswordHasher | None = None,
                 clock: Callable[[], datetime] = _utc_now, team: str | None = None) -> None:
        self._store = store
        self.team = team
        self._ttl = session_ttl
        self._hasher = hasher if hasher is not None else PasswordHasher()
        self._clock = clock
        self._dummy_hash: str | None = None
        self._uses = UseNotes()
        self._lock = threading.Lock()

    # -- teams ----------------------------------------------------------------------------------

    def is_member(self, user: str) -> bool:
        """Whether `user` may use this server: a member of its team (any user when it was
        made for no team)."""
        return self.team is None or self._store.is_team_member(self.team, user)

    def not_member_message(self, user: str) -> str:
        return (f"{user} is not a member of team {self.team}, which this server serves: "
                f"ask for `flowplan user join {user} --team {self.team}`, or use the server "
                "of your team")

    # -- passwords ------------------------------------------------------------------------------

    def hash_password(self, password: str) -> str:
        """The argon2id hash of `password`; ValueError when it is not text of at most
        MAX_PASSWORD_BYTES bytes (the message never holds the password)."""
        data = _password_bytes(password)
        if data is None:
            raise ValueError(f"a password is text of at most {MAX_PASSWORD_BYTES} bytes")
        return self._hasher.hash(data)

    def check_password(self, name: str, password: str) -> str | None:
        """The user's name when `password` is theirs, else None. An unknown name costs the same
        argon2 work as a known one."""
        data = _password_bytes(password)
        if not fit_user_name(name) or data is None:
            return None
        user = self._store.get_user(name)
        stored = user.password_hash if user is not None else self._dummy()
        try:
            self._hasher.verify(stored, data)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if user is None:
            return None
        if self._hasher.check_needs_rehash(stored):
            self._store.set_password(user.name, self._hasher.hash(data), rehash=True)
        return user.name

    def _dummy(self) -> str:
        with self._lock:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_bytes(SECRET_BYTES))
            return self._dummy_hash

    # -- API tokens -----------------------------------------------------------------------------

    def create_token(self, user: str, description: str = "", *, by: str | None = None) -> str:
        """A new token for `user`, `fpt_<id>_<secret>`: returned once, only its hash stored.
        ValueError when there is no such user or the description is not short text."""
        if type(description) is not str or len(description) > MAX_DESCRIPTION:
            raise ValueError(f"a token's description is text of at most {MAX_DESCRIPTION} "
                             "characters")
        token_id, secret_hash, token = API_TOKENS.new(
            lambda taken: self._store.get_api_token(taken) is not None)
        self._store.add_api_token(token_id, user, secret_hash, description=description, by=by)
        return token

    def user_for_token(self, token: str) -> str | None:
        """The user a token belongs to; None when it is malformed, unknown, revoked, wrong or
        its user is gone."""
        parsed = API_TOKENS.parse(token)
        if parsed is None:
            return None
        token_id, secret = parsed
        record = self._store.get_api_token(token_id)
        if record is None or not secret_matches(secret, record.secret_hash):
            return None
        if self._uses.due(token_id, record.last_used_at, self._clock()):
            self._store.touch_api_token(token_id)
        return record.user

    # -- sessions -------------------------------------------------------------------------------

    def open_session(self, user: str) -> Session:
        """A new session for `user` (ValueError when there is no such user); sessions that
        have expired are removed on the way."""
        now = self._clock()
        cookie = secrets.token_urlsafe(SECRET_BYTES)
        csrf = secrets.token_urlsafe(SECRET_BYTES)
        expires_at = now + self._ttl
        self._store.purge_sessions(now)
        self._store.add_session(sha256_hex(cookie), user, csrf, expires_at)
        return Session(cookie, user, csrf, expires_at)

    def session(self, cookie: str | None) -> Session | None:
        """The session of a cookie value; None when it is missing, malformed, unknown, expired
        or its user was removed."""
        if type(cookie) is not str or len(cookie) > MAX_TOKEN_LENGTH \
                or not _COOKIE.fullmatch(cookie):
            return None
        id_hash = sha256_hex(cookie)
        record = self._store.get_session(id_hash)
        if record is None:
            return None
        if record.expires_at <= self._clock():
            self._store.delete_session(id_hash)
            return None
        return Session(cookie, record.user, record.csrf_token, record.expires_at)

    def close_session(self, cookie: str) -> None:
        """End the session (logging out); nothing happens for a cookie that names none."""
        if type(cookie) is str and len(cookie) <= MAX_TOKEN_LENGTH and _COOKIE.fullmatch(cookie):
            self._store.delete_session(sha256_hex(cookie))

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        """Whether `token` (the form field or header) is the session's CSRF token, compared in
        constant time."""
        if session is None or type(token) is not str or len(token) > MAX_TOKEN_LENGTH:
            return False
        return hmac.compare_digest(token.encode("utf-8", "surrogatepass"),
                                   session.csrf.encode("utf-8"))

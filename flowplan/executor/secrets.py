"""Encrypting and decrypting secrets with the operator's key, `FLOWPLAN_SECRET_KEY`.

`SecretBox` turns a secret's text into a token and back. The key is a passphrase of at least 16
characters; the Fernet key (AES-128-CBC with HMAC-SHA256) is derived from it with scrypt
(n=2**15, r=8, p=1) and the fixed salt `KEY_DERIVATION_SALT`, so the same passphrase opens the same
tokens on every machine. Tokens start with `TOKEN_PREFIX` ("fernet-scrypt-v1:") so the scheme can
change later without guessing what an old token is.

Persisting tokens is the store's job; choosing which values are secret is the config's.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

KEY_VARIABLE = "FLOWPLAN_SECRET_KEY"
MINIMUM_KEY_LENGTH = 16
KEY_DERIVATION_SALT = b"flowplan secret box v1"
TOKEN_PREFIX = "fernet-scrypt-v1:"

_KEY_ADVICE = (
    f"set {KEY_VARIABLE} to a passphrase of at least {MINIMUM_KEY_LENGTH} characters, "
    f"e.g. `export {KEY_VARIABLE}=\"$(openssl rand -base64 32)\"`, and keep it: "
    "secrets stored with one key can only be read with the same key"
)


class SecretError(Exception):
    """A secret could not be encrypted or decrypted; the message says what to do."""


class SecretKeyMissing(SecretError):
    """`FLOWPLAN_SECRET_KEY` is not set, or too short to be a key."""


class SecretKeyMismatch(SecretError):
    """A token was encrypted with another key (or damaged since)."""


class SecretTokenUnreadable(SecretError):
    """A value that is not a token of any scheme this version knows."""


def _derive_fernet_key(passphrase: str) -> bytes:
    kdf = Scrypt(salt=KEY_DERIVATION_SALT, length=32, n=2**15, r=8, p=1)
    # surrogateescape: a key that is not UTF-8 (bytes in the environment) is taken as its bytes
    return base64.urlsafe_b64encode(kdf.derive(passphrase.encode("utf-8", "surrogateescape")))


class SecretBox:
    """Encrypts and decrypts secret text with one operator key."""

    def __init__(self, key: str) -> None:
        if not key:
            raise SecretKeyMissing(f"no secret key given: {_KEY_ADVICE}")
        if len(key) < MINIMUM_KEY_LENGTH:
            raise SecretKeyMissing(
                f"the secret key is {len(key)} characters long, too short: {_KEY_ADVICE}")
        self._fernet = Fernet(_derive_fernet_key(key))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SecretBox:
        """The box for the key in `environ[FLOWPLAN_SECRET_KEY]` (default: this process's)."""
        environ = os.environ if environ is None else environ
        key = environ.get(KEY_VARIABLE)
        if not key:
            raise SecretKeyMissing(f"{KEY_VARIABLE} is not set: {_KEY_ADVICE}")
        if len(key) < MINIMUM_KEY_LENGTH:
            raise SecretKeyMissing(
                f"{KEY_VARIABLE} is {len(key)} characters long, too short: {_KEY_ADVICE}")
        return cls(key)

    def __repr__(self) -> str:  # never show key material
        return "SecretBox(***)"

    def encrypt(self, text: str) -> str:
        """A token holding `text`; a new random IV each time, so equal texts give unequal tokens."""
        return TOKEN_PREFIX + self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The text held in `token`."""
        if not token.startswith(TOKEN_PREFIX):
            raise SecretTokenUnreadable(
                f"not a flowplan secret token (tokens start with {TOKEN_PREFIX!r})")
        try:
            plain = self._fernet.decrypt(token[len(TOKEN_PREFIX):].encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise SecretKeyMismatch(
                f"cannot decrypt a stored secret: {KEY_VARIABLE} is not the key it was "
                f"encrypted with (or the stored value is damaged); set {KEY_VARIABLE} to the "
                "key used when the secret was stored, or store the secret again") from None
        return plain.decode("utf-8")

    def open_stored(self, name: str, token: str) -> str:
        """The text of store secret `name`; StoreSecretUnreadable naming it when this key is not
        the one it was stored with (or the token is damaged)."""
        again = f"store it again with `flowplan secret set {name}`"
        try:
            return self.decrypt(token)
        except SecretKeyMismatch:
            reason = (f"{KEY_VARIABLE} is not the key it was stored with (or the stored value "
                      f"is damaged); set {KEY_VARIABLE} to the key it was stored with, or {again}")
        except SecretTokenUnreadable as exc:
            reason = f"the stored value is {exc}; {again}"
        raise StoreSecretUnreadable(f"{_store_secrets([name])} cannot be decrypted: {reason}")

    def require_store_key(self, tokens: Mapping[str, str]) -> None:
        """SecretKeyMismatch unless this key opens the store secrets `tokens` (name: token, the
        store's other secrets): all secrets of a store share one key. The message counts and
        names the secrets that do not open, never showing a value."""
        unread = []
        for name, token in sorted(tokens.items()):
            try:
                self.decrypt(token)
            except SecretError:
                unread.append(name)
        if not unread:
            return
        count, listed = len(unread), ", ".join(unread[:5]) + (", ..." if len(unread) > 5 else "")
        which = (f"{count} secret{'s' if count > 1 else ''} in the store" if count == len(tokens)
                 else f"{count} of the {len(tokens)} other secrets in the store")
        raise SecretKeyMismatch(
            f"{KEY_VARIABLE} is not the key of this store: {which} ({listed}) "
            f"{'was' if count == 1 else 'were'} stored with another key; nothing stored. Set "
            f"{KEY_VARIABLE} to that key (all secrets of a store share one), or delete "
            f"{'it' if count == 1 else 'them'} first with `flowplan secret rm`")


# -- store secrets ------------------------------------------------------------------------------

class StoreSecretUnreadable(SecretError):
    """A store secret that cannot be decrypted here; the message names it and says why."""


def open_store_secrets(tokens: Mapping[str, str], environ: Mapping[str, str] | None = None
                       ) -> dict[str, str]:
    """The texts of the store secrets `tokens` (name: token), decrypted with the key in
    `environ` (default: this process's). Every use of a store secret reads it here, so the
    reasons one cannot be read are worded alike everywhere: StoreSecretUnreadable names the
    secret and says whether the key is missing or not the one it was stored with."""
    if not tokens:
        return {}
    names = sorted(tokens)
    try:
        box = SecretBox.from_environment(environ)
    except SecretKeyMissing:
        environ = os.environ if environ is None else environ
        key = environ.get(KEY_VARIABLE)
        they = "it was" if len(names) == 1 else "they were"
        reason = (f"{KEY_VARIABLE} is not set" if not key else
                  f"{KEY_VARIABLE} is {len(key)} characters long, too short to be a key")
        raise StoreSecretUnreadable(f"{_store_secrets(names)} cannot be decrypted: {reason}; "
                                    f"set {KEY_VARIABLE} to the key {they} stored with") from None
    return {name: box.open_stored(name, tokens[name]) for name in names}


def _store_secrets(names: list[str]) -> str:
    return (f"the store secret {names[0]}" if len(names) == 1 else
            f"the store secrets {', '.join(names)}")

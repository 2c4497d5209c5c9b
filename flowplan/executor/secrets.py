"""Encrypting and decrypting secrets with the operator's key: the file named by
`FLOWPLAN_SECRET_KEY_FILE` (preferred), or `FLOWPLAN_SECRET_KEY` itself.

`SecretBox` turns a secret's text into a token and back. The key is a passphrase of at least 16
characters. A key file holds it (a final newline is not part of it) and must be readable by its
owner only: a key file that group or others may read or write is refused, as ssh refuses such a
private key. `operator_key_texts` gives the run's masker the key (and the forms its file's text
takes), whatever state its file is in. The Fernet key (AES-128-CBC with HMAC-SHA256) is derived
from it with scrypt (n=2**15, r=8, p=1) and the fixed salt `KEY_DERIVATION_SALT`, so the same
passphrase opens the same tokens on every machine. Tokens start with `TOKEN_PREFIX`
("fernet-scrypt-v1:") so the scheme can change later without guessing what an old token is.

Persisting tokens is the store's job; choosing which values are secret is the config's.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

KEY_VARIABLE = "FLOWPLAN_SECRET_KEY"
KEY_FILE_VARIABLE = "FLOWPLAN_SECRET_KEY_FILE"
KEY_VARIABLES = (KEY_VARIABLE, KEY_FILE_VARIABLE)   # what steps never see in their environment
MINIMUM_KEY_LENGTH = 16
KEY_DERIVATION_SALT = b"flowplan secret box v1"
TOKEN_PREFIX = "fernet-scrypt-v1:"

_KEY_ADVICE = (
    f"put a passphrase of at least {MINIMUM_KEY_LENGTH} characters in a file only flowplan's "
    f"user can read and set {KEY_FILE_VARIABLE} to its path, e.g. `(umask 077; openssl rand "
    f"-base64 32 > /etc/flowplan/secret.key)` and `export {KEY_FILE_VARIABLE}=/etc/flowplan/"
    f"secret.key` (or set {KEY_VARIABLE} to the passphrase itself), and keep it: secrets "
    "stored with one key can only be read with the same key"
)


class SecretError(Exception):
    """A secret could not be encrypted or decrypted; the message says what to do."""


class SecretKeyMissing(SecretError):
    """No usable key: none given, too short, or its key file missing, unreadable or open to
    group or others."""


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

    def __init__(self, key: str, source: str = KEY_VARIABLE) -> None:
        if not key:
            raise SecretKeyMissing(f"no secret key given: {_KEY_ADVICE}")
        if len(key) < MINIMUM_KEY_LENGTH:
            raise SecretKeyMissing(
                f"the secret key is {len(key)} characters long, too short: {_KEY_ADVICE}")
        self._fernet = Fernet(_derive_fernet_key(key))
        self._source = source           # where the key came from, for messages

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SecretBox:
        """The box for the key in the file `environ[FLOWPLAN_SECRET_KEY_FILE]`, or in
        `environ[FLOWPLAN_SECRET_KEY]` (default: this process's environment)."""
        environ = os.environ if environ is None else environ
        key_file = environ.get(KEY_FILE_VARIABLE)
        key = environ.get(KEY_VARIABLE)
        if key_file and key:
            raise SecretKeyMissing(
                f"both {KEY_FILE_VARIABLE} and {KEY_VARIABLE} are set: unset one of them "
                f"({KEY_FILE_VARIABLE} is the preferred way)")
        if key_file:
            return cls(read_key_file(key_file), f"the key in {key_file} ({KEY_FILE_VARIABLE})")
        if not key:
            raise SecretKeyMissing(f"neither {KEY_FILE_VARIABLE} nor {KEY_VARIABLE} is set: "
                                   f"{_KEY_ADVICE}")
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
                f"cannot decrypt a stored secret: {self._source} is not the key it was "
                f"encrypted with (or the stored value is damaged); give the key used when the "
                "secret was stored, or store the secret again") from None
        return plain.decode("utf-8")

    def open_stored(self, name: str, token: str) -> str:
        """The text of store secret `name`; StoreSecretUnreadable naming it when this key is not
        the one it was stored with (or the token is damaged)."""
        again = f"store it again with `flowplan secret set {name}`"
        try:
            return self.decrypt(token)
        except SecretKeyMismatch:
            reason = (f"{self._source} is not the key it was stored with (or the stored value "
                      f"is damaged); give the key it was stored with, or {again}")
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


def _read_key_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read().rstrip("\r\n")


def read_key_file(path: str) -> str:
    """The passphrase in key file `path`; SecretKeyMissing, naming the file, when it is missing,
    unreadable, too short, or readable or writable by group or others."""
    where = f"{KEY_FILE_VARIABLE} names {path}"
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise SecretKeyMissing(f"{where}, which is not a file: {_KEY_ADVICE}")
        if mode & 0o077:
            raise SecretKeyMissing(
                f"{where}, which group or others may read or write (mode "
                f"{stat.S_IMODE(mode):04o}): make it readable by flowplan's user only, "
                f"`chmod 600 {path}`")
        key = _read_key_text(path)
    except FileNotFoundError:
        raise SecretKeyMissing(f"{where}, which does not exist: {_KEY_ADVICE}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SecretKeyMissing(f"{where}, which cannot be read: {reason}") from None
    if len(key) < MINIMUM_KEY_LENGTH:
        raise SecretKeyMissing(f"{where}, which holds {len(key)} characters, too short: "
                               f"{_KEY_ADVICE}")
    return key


def operator_key(environ: Mapping[str, str]) -> str | None:
    """The operator's key as far as flowplan can tell (from FLOWPLAN_SECRET_KEY, or read from
    FLOWPLAN_SECRET_KEY_FILE whatever its mode), for masking; None when there is none."""
    key = environ.get(KEY_VARIABLE)
    if key:
        return key
    key_file = environ.get(KEY_FILE_VARIABLE)
    if not key_file:
        return None
    try:
        return _read_key_text(key_file) or None
    except (OSError, UnicodeDecodeError):
        return None


def operator_key_texts(environ: Mapping[str, str]) -> list[str]:
    """What a run masks for the operator's key: the key, and the base64 of the text its file
    holds (the key and a newline: what `base64 KEYFILE` prints, which masking the key's own base64
    forms would only partly hide)."""
    key = operator_key(environ)
    if not key:
        return []
    raw = (key + "\n").encode("utf-8")
    return [key, base64.b64encode(raw).decode("ascii"),
            base64.urlsafe_b64encode(raw).decode("ascii")]

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
    except SecretKeyMissing as exc:
        environ = os.environ if environ is None else environ
        key = environ.get(KEY_VARIABLE)
        they = "it was" if len(names) == 1 else "they were"
        if environ.get(KEY_FILE_VARIABLE):
            reason = str(exc)                           # names the key file and what is wrong
        elif not key:
            reason = f"neither {KEY_FILE_VARIABLE} nor {KEY_VARIABLE} is set"
        else:
            reason = f"{KEY_VARIABLE} is {len(key)} characters long, too short to be a key"
        raise StoreSecretUnreadable(f"{_store_secrets(names)} cannot be decrypted: {reason}; "
                                    f"give the key {they} stored with") from None
    return {name: box.open_stored(name, tokens[name]) for name in names}


def _store_secrets(names: list[str]) -> str:
    return (f"the store secret {names[0]}" if len(names) == 1 else
            f"the store secrets {', '.join(names)}")

"""Secrets encrypted with the operator's key: round trip, wrong key, missing key."""

from __future__ import annotations

import pytest

from flowplan.executor.secrets import (
    KEY_VARIABLE,
    TOKEN_PREFIX,
    SecretBox,
    SecretKeyMismatch,
    SecretKeyMissing,
    SecretTokenUnreadable,
    StoreSecretUnreadable,
    open_store_secrets,
)

KEY = "correct horse battery staple"


@pytest.fixture(scope="module")
def box():
    return SecretBox(KEY)


@pytest.mark.parametrize(
    "text", ["hunter2", "", "ünïcødé ✓ 密码", "line one\nline two", "x" * 10_000])
def test_decrypt_returns_what_encrypt_was_given(box, text):
    assert box.decrypt(box.encrypt(text)) == text


def test_the_same_passphrase_opens_tokens_from_another_box(box):
    assert SecretBox(KEY).decrypt(box.encrypt("shared")) == "shared"


def test_tokens_never_contain_the_plaintext_and_differ_each_time(box):
    first, second = box.encrypt("s3cr3t-value"), box.encrypt("s3cr3t-value")

    assert first != second
    assert first.startswith(TOKEN_PREFIX)
    for token in (first, second):
        assert "s3cr3t" not in token
        assert KEY not in token


def test_a_wrong_key_raises_mismatch_with_what_to_do(box):
    token = box.encrypt("hunter2")
    with pytest.raises(SecretKeyMismatch) as error:
        SecretBox("another passphrase entirely").decrypt(token)

    assert f"{KEY_VARIABLE} is not the key it was encrypted with" in str(error.value)
    assert "hunter2" not in str(error.value)


def test_a_damaged_token_raises_mismatch(box):
    token = box.encrypt("hunter2")
    with pytest.raises(SecretKeyMismatch):
        box.decrypt(token[:-4] + "AAAA")


def test_a_value_that_is_no_token_is_unreadable(box):
    with pytest.raises(SecretTokenUnreadable, match="not a flowplan secret token"):
        box.decrypt("hunter2")


def test_from_environment_uses_the_key_variable(box):
    token = box.encrypt("hunter2")
    assert SecretBox.from_environment({KEY_VARIABLE: KEY}).decrypt(token) == "hunter2"


def test_missing_key_says_exactly_what_to_do():
    with pytest.raises(SecretKeyMissing) as error:
        SecretBox.from_environment({})

    assert str(error.value).startswith(
        f"{KEY_VARIABLE} is not set: set {KEY_VARIABLE} to a passphrase of at least 16 characters")


def test_short_key_is_refused_with_its_length():
    with pytest.raises(SecretKeyMissing) as error:
        SecretBox.from_environment({KEY_VARIABLE: "k3y!"})

    assert str(error.value).startswith(f"{KEY_VARIABLE} is 4 characters long, too short: set ")
    assert "k3y!" not in str(error.value)


def test_the_box_does_not_show_its_key():
    assert KEY not in repr(SecretBox(KEY))


def test_a_key_that_is_not_utf8_is_taken_as_its_bytes():
    key = "\udcff" + "k" * 20                           # b"\xffkkk..." in the environment
    token = SecretBox.from_environment({KEY_VARIABLE: key}).encrypt("hunter2")
    assert SecretBox(key).decrypt(token) == "hunter2"
    with pytest.raises(SecretKeyMismatch):
        SecretBox("\udcfe" + "k" * 20).decrypt(token)


def test_store_secrets_that_cannot_be_read_are_named_with_the_reason(box):
    with pytest.raises(StoreSecretUnreadable) as missing:
        open_store_secrets({"b": box.encrypt("x"), "a": box.encrypt("y")}, {})
    assert str(missing.value) == (f"the store secrets a, b cannot be decrypted: {KEY_VARIABLE} "
                                  f"is not set; set {KEY_VARIABLE} to the key they were stored "
                                  "with")
    with pytest.raises(StoreSecretUnreadable) as short:
        open_store_secrets({"a": box.encrypt("y")}, {KEY_VARIABLE: "k3y!"})
    assert str(short.value).startswith(f"the store secret a cannot be decrypted: {KEY_VARIABLE} "
                                       "is 4 characters long, too short to be a key")
    with pytest.raises(StoreSecretUnreadable) as damaged:
        box.open_stored("a", "hunter2")
    assert str(damaged.value) == (
        "the store secret a cannot be decrypted: the stored value is not a flowplan secret token "
        f"(tokens start with {TOKEN_PREFIX!r}); store it again with `flowplan secret set a`")
    assert open_store_secrets({"a": box.encrypt("y")}, {KEY_VARIABLE: KEY}) == {"a": "y"}

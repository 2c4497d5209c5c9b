"""Secrets encrypted with the operator's key: round trip, wrong key, missing key, the key from a
file (FLOWPLAN_SECRET_KEY_FILE) and what is wrong with one."""

from __future__ import annotations

import os

import pytest

from flowplan.executor.secrets import (
    KEY_FILE_VARIABLE,
    KEY_VARIABLE,
    TOKEN_PREFIX,
    SecretBox,
    SecretKeyMismatch,
    SecretKeyMissing,
    SecretTokenUnreadable,
    operator_key,
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
        f"neither {KEY_FILE_VARIABLE} nor {KEY_VARIABLE} is set: put a passphrase of at least 16 "
        f"characters in a file only flowplan's user can read and set {KEY_FILE_VARIABLE} to its "
        "path")


def test_short_key_is_refused_with_its_length():
    with pytest.raises(SecretKeyMissing) as error:
        SecretBox.from_environment({KEY_VARIABLE: "k3y!"})

    assert str(error.value).startswith(f"{KEY_VARIABLE} is 4 characters long, too short: put ")
    assert "k3y!" not in str(error.value)


def test_the_box_does_not_show_its_key():
    assert KEY not in repr(SecretBox(KEY))


def key_file(tmp_path, text: str, mode: int = 0o600):
    path = tmp_path / "secret.key"
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_the_key_from_a_key_file_opens_what_the_same_key_sealed(box, tmp_path):
    token = box.encrypt("hunter2")
    environ = {KEY_FILE_VARIABLE: key_file(tmp_path, KEY + "\n")}   # the newline is no part of it
    assert SecretBox.from_environment(environ).decrypt(token) == "hunter2"


def test_a_wrong_key_file_is_named_in_the_mismatch(box, tmp_path):
    path = key_file(tmp_path, "another passphrase entirely")
    with pytest.raises(SecretKeyMismatch) as error:
        SecretBox.from_environment({KEY_FILE_VARIABLE: path}).decrypt(box.encrypt("x"))
    assert f"the key in {path} ({KEY_FILE_VARIABLE}) is not the key it was encrypted with" \
        in str(error.value)


def test_a_missing_key_file_is_named(tmp_path):
    path = tmp_path / "nowhere.key"
    with pytest.raises(SecretKeyMissing) as error:
        SecretBox.from_environment({KEY_FILE_VARIABLE: str(path)})
    assert str(error.value).startswith(f"{KEY_FILE_VARIABLE} names {path}, which does not exist")


def test_a_key_file_that_cannot_be_read_is_named(tmp_path):
    with pytest.raises(SecretKeyMissing) as error:
        SecretBox.from_environment({KEY_FILE_VARIABLE: str(tmp_path)})
    assert str(error.value).startswith(
        f"{KEY_FILE_VARIABLE} names {tmp_path}, which is not a file")
    path = tmp_path / "binary.key"
    path.write_bytes(b"\xff" * 20)
    path.chmod(0o600)
    with pytest.raises(SecretKeyMissing) as error:
        SecretBox.from_environment({KEY_FILE_VARIABLE: str(path)})
    assert str(error.value).startswith(f"{KEY_FILE_VARIABLE} names {path}, which cannot be read")


def test_a_short_key_file_is_refused_with_its_length(tmp_path):
    path = key_file(tmp_path, "k3y!\n")
    with pytest.raises(SecretKeyMissing) as error:
        SecretBox.from_environment({KEY_FILE_VARIABLE: path})
    assert str(error.value).startswith(
        f"{KEY_FILE_VARIABLE} names {path}, which holds 4 characters, too short")
    assert "k3y!" not in str(error.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_key_file_group_or_others_may_read_or_write_is_refused(tmp_path, mode):
    path = key_file(tmp_path, KEY, mode)
    with pytest.raises(SecretKeyMissing) as error:
        SecretBox.from_environment({KEY_FILE_VARIABLE: path})
    assert str(error.value) == (
        f"{KEY_FILE_VARIABLE} names {path}, which group or others may read or write (mode "
        f"{mode:04o}): make it readable by flowplan's user only, `chmod 600 {path}`")


def test_a_key_both_in_a_file_and_in_the_environment_is_refused(tmp_path):
    with pytest.raises(SecretKeyMissing, match=f"both {KEY_FILE_VARIABLE} and {KEY_VARIABLE} "
                                               "are set: unset one of them"):
        SecretBox.from_environment({KEY_FILE_VARIABLE: key_file(tmp_path, KEY),
                                    KEY_VARIABLE: KEY})


def test_operator_key_is_known_from_either_place_for_masking(tmp_path):
    assert operator_key({KEY_VARIABLE: KEY}) == KEY
    # masked even when the file is refused for decrypting: it may still be read
    assert operator_key({KEY_FILE_VARIABLE: key_file(tmp_path, KEY + "\n", 0o644)}) == KEY
    assert operator_key({KEY_FILE_VARIABLE: str(tmp_path / "nowhere")}) is None
    assert operator_key({}) is None


def test_a_key_that_is_not_utf8_is_taken_as_its_bytes():
    key = "\udcff" + "k" * 20                           # b"\xffkkk..." in the environment
    token = SecretBox.from_environment({KEY_VARIABLE: key}).encrypt("hunter2")
    assert SecretBox(key).decrypt(token) == "hunter2"
    with pytest.raises(SecretKeyMismatch):
        SecretBox("\udcfe" + "k" * 20).decrypt(token)


def test_store_secrets_that_cannot_be_read_are_named_with_the_reason(box):
    with pytest.raises(StoreSecretUnreadable) as missing:
        open_store_secrets({"b": box.encrypt("x"), "a": box.encrypt("y")}, {})
    assert str(missing.value) == (f"the store secrets a, b cannot be decrypted: neither "
                                  f"{KEY_FILE_VARIABLE} nor {KEY_VARIABLE} is set; give the key "
                                  "they were stored with")
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

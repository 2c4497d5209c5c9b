"""Masking sensitive values, and their encoded forms, in log lines and stored records."""

from __future__ import annotations

import base64
import json
import secrets
import shlex
import time
from urllib.parse import quote

from flowplan.executor.step_process.masking import Masker


def test_every_occurrence_is_masked():
    masker = Masker(["hunter2"])
    assert masker.mask("login hunter2 then hunter2hunter2") == "login *** then ******"


def test_longest_secret_wins_when_one_contains_another():
    masker = Masker(["abc", "abcdef"])
    assert masker.mask("x abcdefg abcx") == "x ***g ***x"


def test_secrets_shorter_than_three_characters_are_ignored():
    masker = Masker(["ab", "1", ""])
    assert not masker
    assert masker.mask("ab 1 abc") == "ab 1 abc"


def test_shell_quoted_url_encoded_json_and_base64_forms_are_masked():
    secret = "p@ss w'rd/+\"x"
    masker = Masker([secret])
    forms = [shlex.quote(secret), quote(secret, safe=""), json.dumps(secret),
             base64.b64encode(secret.encode()).decode(),
             base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")]
    for form in forms:
        masked = masker.mask(f"before {form} after")
        assert masked.startswith("before ") and masked.endswith(" after"), form
        assert "***" in masked and "w'rd" not in masked and "rd/" not in masked, (form, masked)


def test_each_line_of_a_multi_line_secret_is_masked():
    key = "-----BEGIN KEY-----\nAAAABBBBCCCC\nDDDDEEEE\n-----END KEY-----"
    masker = Masker([key])
    assert masker.mask("got DDDDEEEE in a log") == "got *** in a log"
    assert masker.mask(key) == "***"


def test_mask_value_masks_nested_records_and_keeps_other_types():
    masker = Masker(["hunter2"])
    record = {"env": {"PASSWORD": "hunter2", "hunter2": 1}, "args": ["-p", "x-hunter2-y", 3],
              "pair": ("hunter2", None), "ok": True}

    assert masker.mask_value(record) == {
        "env": {"PASSWORD": "***", "***": 1}, "args": ["-p", "x-***-y", 3],
        "pair": ("***", None), "ok": True}
    assert record["env"]["PASSWORD"] == "hunter2"  # the input is left alone


def test_masking_a_200000_line_log_with_ten_secrets_is_fast():
    values = [secrets.token_urlsafe(12 + n) for n in range(9)] + ["p@ss w'rd!"]
    masker = Masker(values)
    lines = [f"2024-05-01T10:00:{n % 60:02d} [INFO] downloading com.example:lib:{n}.0 from "
             f"https://repo.example.com/maven2 ({n} of 200000)" for n in range(200_000)]
    lines[1234] += " token=" + values[3]

    started = time.perf_counter()
    masked = [masker.mask(line) for line in lines]
    elapsed = time.perf_counter() - started

    assert masked[1234].endswith(" token=***")
    assert masked[0] == lines[0]
    assert elapsed < 3.0, f"masking took {elapsed:.2f} s"


def test_a_value_that_is_not_utf8_is_masked_as_logs_show_it():
    value = "sec\udcffret-from-the-environment"           # b"sec\xffret..." as Python keeps it
    masker = Masker([value])
    assert masker.mask("got sec\ufffdret-from-the-environment") == "got ***"
    assert masker.mask(f"url ?t={quote(value.encode('utf-8', 'surrogateescape'))}") == "url ?t=***"

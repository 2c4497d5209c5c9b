"""Hostile input through the run, logs, secret and role commands: every one ends in a one-line
`Error: ...` (or a located diagnostic) and exit code 1, never a traceback. Run references out of
range or misspelt, NaN for a number variable, names that are empty, too long, hold control
characters or are not UTF-8, secret values that are empty, huge, binary or hold NUL, a
`FLOWPLAN_SECRET_KEY` other than the store's, and store secrets that cannot be decrypted.

`run_flowplan` fails a test on any traceback in stderr; arguments that are not UTF-8 are passed
as Python keeps them (`os.fsdecode`), so the process receives the raw bytes.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from cli_workspace import assert_ok, flowplan_command

CONFIG = """
variable "n" {
  type    = number
  default = 1
}

variable "token" {
  sensitive = true
}

pipeline "app" {
  stage "s" {
    task "t" {
      step "x" {
        type = "command"
        run  = "echo ${var.n}"
      }
    }
  }
}

pipeline "deploy" {
  variables = { TOKEN = var.token }
  stage "s" {
    task "t" {
      step "x" {
        type = "command"
        run  = "test -n \\"$TOKEN\\""
      }
    }
  }
}
"""

KEY = "an-operator-key-of-some-length"
OTHER_KEY = "another-operator-key-0123456"
NOT_UTF8 = os.fsdecode(b"caf\xe9")


@pytest.fixture
def configured(workspace):
    workspace.write(CONFIG)
    workspace.env["FLOWPLAN_SECRET_KEY"] = KEY
    return workspace


def refused(result, message: str | None = None) -> str:
    """The one line of a refusal: exit 1, `Error: ...` alone on stderr, nothing on stdout."""
    assert result.code == 1, str(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), str(result)
    if message is not None:
        assert lines[0] == f"Error: {message}", str(result)
    return lines[0]


RUN_COMMANDS = [("runs", "show"), ("logs",), ("approve",), ("reject",), ("retry",),
                ("skip", "--task", "s/t"), ("resume",), ("cancel",)]


@pytest.mark.parametrize("command", RUN_COMMANDS, ids=lambda c: c[0])
def test_every_command_taking_a_run_refuses_a_number_past_the_stores_range(configured,
                                                                           run_flowplan,
                                                                           command):
    refused(run_flowplan(*command, "app#99999999999999999999"),
            "'app#99999999999999999999' is not a run: run numbers go from 1 to "
            "9223372036854775807")


@pytest.mark.parametrize("ref", ["app#-1", "app#²", os.fsdecode(b"\xff#1")])
def test_a_misspelt_run_is_refused_saying_how_to_write_one(configured, run_flowplan, ref):
    line = refused(run_flowplan("runs", "show", ref))
    assert line.endswith("is not a run: write PIPELINE#NUMBER, e.g. app#3")


def test_a_number_variable_refuses_nan_at_its_block(configured, run_flowplan):
    result = run_flowplan("plan", "--var", "n=nan")
    assert result.code == 1, str(result)
    assert "main.hcl:1:1: error: Invalid value for variable" in result.stderr
    assert "var.n (from --var): 'nan' is not a finite number" in result.stderr


@pytest.mark.parametrize("args, message", [
    (("run", "app", "--as", "ev\x1b[31mil"), "--as holds a control character ('\\x1b')"),
    (("run", "app", "--as", NOT_UTF8), "--as is not UTF-8 text"),
    (("run", "app", "--as", "u" * 5000), "--as is 5000 characters long; at most 200 are "
                                         "allowed"),
    (("run", "app", "--as", ""), "--as is empty"),
    (("run", "app", "--branch", NOT_UTF8), "--branch is not UTF-8 text"),
    (("run", NOT_UTF8), "the pipeline name is not UTF-8 text"),
    (("run", ""), "the pipeline name is empty"),
    (("runs", NOT_UTF8), "the pipeline name is not UTF-8 text"),
    (("approve", "app#1", "--comment", "ok\x1b[2J"), "--comment holds a control character "
                                                     "('\\x1b')"),
    (("reject", "app#1", "--comment", NOT_UTF8), "--comment is not UTF-8 text"),
    (("cancel", "app#1", "--as", "bell\x07"), "--as holds a control character ('\\x07')"),
    (("logs", "app#1", "--task", NOT_UTF8), "--task is not UTF-8 text"),
    (("secret", "set", ""), "the secret name is empty"),
    (("secret", "set", "a\x1bb"), "the secret name holds a control character ('\\x1b')"),
    (("role", "grant", "deployers", ""), "the user is empty"),
    (("role", "grant", "", "alice"), "the role is empty"),
    (("secret", "rm", NOT_UTF8), "the secret name is not UTF-8 text"),
    (("role", "revoke", NOT_UTF8, "alice"), "the role is not UTF-8 text"),
    (("role", "list", NOT_UTF8), "the role is not UTF-8 text"),
])
def test_hostile_names_and_comments_are_refused_in_one_line(configured, run_flowplan, args,
                                                            message):
    refused(run_flowplan(*args, input="value"), message)


def test_a_config_directory_that_does_not_exist_is_said_and_not_made(configured, tmp_path):
    missing = tmp_path / "no-such-config"
    for args in (("runs",), ("run", "app"), ("secret", "list")):
        completed = subprocess.run([*flowplan_command(), "-C", str(missing), *args],
                                   env=configured.base_env(), capture_output=True, text=True,
                                   timeout=60, stdin=subprocess.DEVNULL)
        assert completed.returncode == 1 and "Traceback" not in completed.stderr
        assert "error: No such config directory" in completed.stderr
    assert not missing.exists()


def test_a_sensitive_value_that_is_not_utf8_is_used_and_masked(configured, run_flowplan):
    assert_ok(run_flowplan("apply", "--auto-approve"))
    token = os.fsdecode(b"tok\xffen-from-the-environment")
    assert "==> deploy#1 succeeded" in assert_ok(
        run_flowplan("run", "deploy", env={"FP_VAR_token": token})).stdout


def test_a_huge_limit_lists_every_run(configured, run_flowplan):
    assert "No runs yet" in assert_ok(run_flowplan("runs", "--limit", "9" * 30)).stdout


def secret_set(workspace, name: str, value: bytes, key: str = KEY):
    """`flowplan secret set NAME` with `value` as raw bytes on stdin."""
    env = {**workspace.base_env(), "FLOWPLAN_SECRET_KEY": key}
    completed = subprocess.run(workspace.command("secret", "set", name), env=env, input=value,
                               capture_output=True, timeout=60, cwd=workspace.root)
    stderr = completed.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    return completed.returncode, completed.stdout.decode(), stderr


@pytest.mark.parametrize("value, message", [
    (b"", "the secret is empty; nothing stored."),
    (b"\n\n", "the secret is empty; nothing stored."),
    (b"caf\xe9", "the value of secret token is not UTF-8 text; nothing stored"),
    (b"abc\x00def", "the value of secret token holds a NUL character, which no environment "
                    "variable can carry; nothing stored"),
    (b"x" * 3_000_000, "the value of secret token is longer than 65536 bytes; nothing stored"),
])
def test_a_secret_value_that_cannot_be_kept_is_refused(configured, value, message):
    code, stdout, stderr = secret_set(configured, "token", value)
    assert (code, stdout, stderr) == (1, "", f"Error: {message}\n")


def test_a_secret_with_standard_input_closed_is_refused(configured):
    completed = subprocess.run(["sh", "-c", 'exec "$@" <&-', "sh",
                                *configured.command("secret", "set", "token")],
                               env={**configured.base_env(), "FLOWPLAN_SECRET_KEY": KEY},
                               capture_output=True, text=True, timeout=60)
    assert (completed.returncode, completed.stderr) == (
        1, "Error: the value of secret token is read from standard input, which is closed; "
           "nothing stored\n")


def test_secret_set_refuses_another_key_than_the_stores_saying_how_many_use_it(configured,
                                                                               run_flowplan):
    assert secret_set(configured, "token", b"first-value-1234\n")[0] == 0
    assert secret_set(configured, "registry", b"second-value-5678\n")[0] == 0
    code, stdout, stderr = secret_set(configured, "git", b"third-value-9012\n", OTHER_KEY)
    assert (code, stdout) == (1, "")
    assert stderr == (
        "Error: FLOWPLAN_SECRET_KEY is not the key of this store: 2 secrets in the store "
        "(registry, token) were stored with another key; nothing stored. Set "
        "FLOWPLAN_SECRET_KEY to that key (all secrets of a store share one), or delete them "
        "first with `flowplan secret rm`\n")
    listed = assert_ok(run_flowplan("secret", "list")).stdout.splitlines()
    assert [line.split()[0] for line in listed] == ["registry", "token"]


def test_a_store_secret_that_cannot_be_decrypted_refuses_the_run_naming_it(configured,
                                                                           run_flowplan):
    assert_ok(run_flowplan("apply", "--auto-approve"))
    assert secret_set(configured, "token", b"the-deploy-token\n")[0] == 0
    assert_ok(run_flowplan("run", "deploy"))
    refused(run_flowplan("run", "deploy", env={"FLOWPLAN_SECRET_KEY": OTHER_KEY}),
            "the store secret token cannot be decrypted: FLOWPLAN_SECRET_KEY is not the key it "
            "was stored with (or the stored value is damaged); give the key it was stored with, "
            "or store it again with `flowplan secret set token`")
    refused(run_flowplan("run", "deploy", env={"FLOWPLAN_SECRET_KEY": None}),
            "the store secret token cannot be decrypted: neither FLOWPLAN_SECRET_KEY_FILE nor "
            "FLOWPLAN_SECRET_KEY is set; give the key it was stored with")

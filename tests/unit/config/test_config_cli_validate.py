"""`flowplan validate` run as a real process: compiler-style diagnostics, exit code 1, and never a
Python traceback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BAD_CONFIG = """\
    pipline "app" {
    }

    source "app" {
      url  = "https://github.com/acme/app.git"
      brnch = "master"
    }

    locals {
      tag = "${var.missing}-1"
    }

    pipeline "app" {
      stage "build" {
        task "package" {
          retries = "x"
          step "mvn" {
            type = "mvn"
          }
        }
      }
    }
"""


def flowplan(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    executable = shutil.which("flowplan")
    command = [executable] if executable else [sys.executable, "-c",
                                               "from flowplan.cli import main; main()"]
    env = {**os.environ, "NO_COLOR": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("FP_VAR_")}
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def write(directory: Path, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")


def error_lines(stderr: str) -> list[str]:
    return re.findall(r"^\S+:\d+:\d+: error: .*$", stderr, flags=re.M)


def test_validate_prints_every_mistake_with_its_position_and_exits_1(tmp_path):
    write(tmp_path, "main.hcl", BAD_CONFIG)
    result = flowplan("-C", ".", "validate", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert error_lines(result.stderr) == [
        "main.hcl:1:1: error: Unsupported block type",
        "main.hcl:6:3: error: Unsupported argument",
        "main.hcl:10:12: error: Reference to undeclared input variable",
        "main.hcl:16:17: error: Invalid value",
        "main.hcl:18:9: error: Unknown step type",
    ]
    assert '    6 |   brnch = "master"' in result.stderr
    assert 'Did you mean "pipeline"?' in result.stderr
    assert result.stderr.rstrip().endswith("5 errors.")
    assert "\x1b[" not in result.stderr


def test_validate_shows_paths_relative_to_the_working_directory(tmp_path):
    write(tmp_path / "ci", "main.hcl", 'source "app" {\n}\n')
    result = flowplan("-C", "ci", "validate", cwd=tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == ["ci/main.hcl:1:1: error: Missing required argument"]


def test_validate_reports_a_syntax_error_without_a_traceback(tmp_path):
    write(tmp_path, "main.hcl", 'locals {\n  a = [1, 2\n  b = 3\n}\n')
    result = flowplan("-C", ".", "validate", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert error_lines(result.stderr) == ["main.hcl:3:3: error: Invalid syntax"]


@pytest.mark.parametrize("text", [
    'locals {\n  a = [for x in [1] : x]\n}\n',
    'locals {\n  a = "%{if true}x%{endif}"\n}\n',
    'variable "v" {\n  type = object({a = string})\n}\n',
    'pipeline "p" {\n  stage "s" {\n    task "t" {\n      step "x" {\n'
    '        type = run.branch\n      }\n    }\n  }\n}\n',
    'locals {\n  a = jsonencode({k = acr_repository.r.id})\n}\n',
    '\ufefflocals {\n}\n',
    'locals {\n  a = "\\q"\n}\n',
    "locals {\n  a = 1e999999\n}\n",
    "locals {\n  a = 99999999999999999999999 * 99999999999999999999\n}\n",
    'locals {\n  a = {(1) = 2, "b" = 3}\n}\n',
    "# only a comment\n",
    "",
])
def test_odd_configs_never_give_a_traceback(tmp_path, text):
    (tmp_path / "main.hcl").write_text(text, encoding="utf-8")
    result = flowplan("-C", ".", "validate", cwd=tmp_path)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode in (0, 1)
    if result.returncode == 1:
        assert error_lines(result.stderr), result.stderr


def test_validate_with_a_missing_variable_takes_it_from_var_option(tmp_path):
    write(tmp_path, "main.hcl", 'variable "region" {\n  type = string\n}\n')
    missing = flowplan("-C", ".", "validate", cwd=tmp_path)
    assert missing.returncode == 1
    assert error_lines(missing.stderr) == ["main.hcl:1:1: error: No value for required variable"]
    given = flowplan("-C", ".", "validate", "--var", "region=cn-hangzhou", cwd=tmp_path)
    assert given.returncode == 0, given.stderr
    assert "Success! The configuration is valid" in given.stdout


def test_validate_of_a_valid_config_exits_0(tmp_path):
    write(tmp_path, "main.hcl", 'source "app" {\n  url = "https://example.com/app.git"\n}\n'
                                'pipeline "p" {\n  source = source.app\n}\n')
    result = flowplan("-C", ".", "validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Success! The configuration is valid (1 resource)." in result.stdout


def test_deeply_nested_expression_gives_a_diagnostic_not_a_traceback(tmp_path):
    (tmp_path / "main.hcl").write_text("locals {\n  a = " + "[" * 200 + "]" * 200 + "\n}\n")
    result = flowplan("-C", ".", "validate", cwd=tmp_path)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == 1

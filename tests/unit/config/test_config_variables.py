"""Input variables: where values come from, in which precedence, and how text is converted."""

from __future__ import annotations

import pytest

DECLARATIONS = """\
    variable "from_default" {
      default = "default"
    }
    variable "from_a_file" {
      default = "default"
    }
    variable "from_b_file" {
      default = "default"
    }
    variable "from_cli" {
      default = "default"
    }
    variable "from_env" {
      default = "default"
    }
"""

A_FILE = """\
    from_a_file = "a-file"
    from_b_file = "a-file"
    from_cli    = "a-file"
    from_env    = "a-file"
"""

B_FILE = """\
    from_b_file = "b-file"
    from_cli    = "b-file"
    from_env    = "b-file"
"""


def values(config) -> dict:
    return {name: v.value for name, v in config.variables.items()}


def test_later_sources_win_default_files_cli_environment(load):
    config = load({"main.hcl": DECLARATIONS, "b.auto.fpvars": B_FILE, "a.auto.fpvars": A_FILE},
                  variables={"from_cli": "cli", "from_env": "cli"},
                  environ={"FP_VAR_from_env": "env"})
    assert list(config.diagnostics) == []
    assert values(config) == {
        "from_default": "default",
        "from_a_file": "a-file",
        "from_b_file": "b-file",        # b.auto.fpvars sorts after a.auto.fpvars
        "from_cli": "cli",
        "from_env": "env",
    }


def test_environment_variable_supplies_a_required_variable(load):
    config = load('variable "region" {\n  type = string\n}\n',
                  environ={"FP_VAR_region": "cn-hangzhou", "FP_VAR_": "ignored"})
    assert list(config.diagnostics) == []
    assert values(config) == {"region": "cn-hangzhou"}


def test_variables_file_may_hold_lists_and_maps(load):
    config = load({
        "main.hcl": ('variable "hosts" {\n  type = list(string)\n}\n'
                     'variable "tags" {\n  type = map(string)\n}\n'),
        "x.auto.fpvars": 'hosts = ["a", "b"]\ntags = {team = "core", tier = 1}\n',
    })
    assert list(config.diagnostics) == []
    assert values(config) == {"hosts": ["a", "b"], "tags": {"team": "core", "tier": "1"}}


def test_only_auto_fpvars_files_are_read(load):
    config = load({"main.hcl": 'variable "x" {\n  default = "default"\n}\n',
                   "x.fpvars": 'x = "not auto"\n', "x.auto.tfvars": 'x = "terraform"\n'})
    assert values(config) == {"x": "default"}


@pytest.mark.parametrize("declared, text, expected", [
    ("number", "42", 42),
    ("number", "1.5", 1.5),
    ("bool", "true", True),
    ("bool", "false", False),
    ("string", "007", "007"),
    ("list(string)", '["x", "y"]', ["x", "y"]),
    ("list(number)", "[1, 2]", [1, 2]),
    ("map(string)", '{k = "v", n = 1}', {"k": "v", "n": "1"}),
    ("any", "text", "text"),
])
def test_text_values_are_converted_to_the_declared_type(load, declared, text, expected):
    config = load(f'variable "v" {{\n  type = {declared}\n}}\n', variables={"v": text})
    assert list(config.diagnostics) == []
    value = values(config)["v"]
    assert value == expected and type(value) is type(expected)


def test_environment_text_is_converted_like_cli_text(load):
    config = load('variable "n" {\n  type = number\n}\nvariable "on" {\n  type = bool\n}\n',
                  environ={"FP_VAR_n": "8", "FP_VAR_on": "true"})
    assert values(config) == {"n": 8, "on": True}


def test_default_is_converted_to_the_declared_type(load):
    config = load('variable "names" {\n  type = list(string)\n  default = [1, true]\n}\n')
    assert values(config) == {"names": ["1", "true"]}


@pytest.mark.parametrize("declared, text", [
    ("number", "abc"),
    ("bool", "yes"),
    ("list(string)", "[1, "),
    ("map(string)", '["a"]'),
])
def test_invalid_value_for_the_declared_type_is_a_diagnostic(load, declared, text):
    config = load(f'locals {{\n}}\nvariable "v" {{\n  type = {declared}\n}}\n',
                  variables={"v": text})
    [diagnostic] = list(config.diagnostics)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:3:1",
                                                           "Invalid value for variable")
    assert diagnostic.detail.startswith("var.v (from --var): ")
    assert diagnostic.address == "var.v"
    assert "v" not in config.variables


@pytest.mark.parametrize("text", ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999"])
def test_a_number_variable_refuses_nan_and_infinity_from_text(load, text):
    config = load('variable "n" {\n  type = number\n}\n', variables={"n": text})
    [diagnostic] = list(config.diagnostics)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:1:1",
                                                           "Invalid value for variable")
    assert diagnostic.detail.startswith(f"var.n (from --var): {text!r} is not a finite number")
    assert "n" not in config.variables


def test_a_number_variable_refuses_infinity_from_a_file_a_default_and_the_environment(load):
    config = load({"main.hcl": 'variable "a" {\n  type = number\n}\n'
                               'variable "b" {\n  type = list(number)\n  default = [1, 1e999]\n}\n'
                               'variable "c" {\n  type = number\n}\n',
                   "a.auto.fpvars": "a = -1e999\n"}, environ={"FP_VAR_c": "nan"})
    details = sorted(d.detail for d in config.diagnostics)
    assert [d.split(":")[0] for d in details] == ["var.a (from a *.auto.fpvars file)",
                                                  "var.b (from default)", "var.c (from FP_VAR_c)"]
    assert all("is not a finite number" in d for d in details)
    assert config.variables == {}


def test_invalid_environment_value_names_its_origin(load):
    config = load('variable "n" {\n  type = number\n}\n', environ={"FP_VAR_n": "many"})
    [diagnostic] = list(config.diagnostics)
    assert "var.n (from FP_VAR_n): a string value 'many' does not fit type number" \
        in diagnostic.detail


def test_invalid_value_in_a_variables_file_names_its_origin(load):
    config = load({"main.hcl": 'variable "n" {\n  type = number\n}\n',
                   "a.auto.fpvars": 'n = "many"\n'})
    [diagnostic] = list(config.diagnostics)
    assert "(from a *.auto.fpvars file)" in diagnostic.detail


def test_invalid_default_names_the_default_as_its_origin(load):
    config = load('variable "n" {\n  type = number\n  default = "abc"\n}\n')
    [diagnostic] = list(config.diagnostics)
    assert diagnostic.detail.startswith("var.n (from default): ")


def test_text_that_is_not_a_list_says_which_type_was_expected(load):
    config = load('variable "hosts" {\n  type = list(string)\n}\n',
                  variables={"hosts": "notalist"})
    [diagnostic] = list(config.diagnostics)
    assert "list(string)" in diagnostic.detail
    assert "Known names" not in diagnostic.detail


def test_value_for_an_undeclared_variable_is_a_diagnostic(load):
    config = load('locals {\n}\n', variables={"nope": "1"})
    [diagnostic] = list(config.diagnostics)
    assert diagnostic.summary == "Value for undeclared variable"
    assert 'no variable "nope" is declared' in diagnostic.detail


def test_invalid_type_constraint_is_a_diagnostic_at_the_type(load):
    config = load('variable "v" {\n  type = object({a = string})\n  default = 1\n}\n')
    [diagnostic] = list(config.diagnostics)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:2:10",
                                                           "Invalid type constraint")


def test_variable_default_must_be_a_literal(load):
    config = load('variable "a" {\n  default = var.b\n}\nvariable "b" {\n  default = 1\n}\n')
    [diagnostic] = list(config.diagnostics)
    assert str(diagnostic.range) == "main.hcl:2:13"
    assert "must be a literal" in diagnostic.detail


def test_sensitive_must_be_a_bool(load):
    config = load('variable "v" {\n  sensitive = "yes"\n  default = 1\n}\n')
    [diagnostic] = list(config.diagnostics)
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:2:15", "Invalid value")


def test_variables_file_with_a_block_is_a_diagnostic(load):
    config = load({"main.hcl": 'variable "x" {\n  default = 1\n}\n',
                   "a.auto.fpvars": 'x = 2\nblock {\n}\n'})
    [diagnostic] = list(config.diagnostics)
    assert (str(diagnostic.range), diagnostic.summary) == ("a.auto.fpvars:2:1",
                                                           "Unexpected block")
    assert values(config) == {"x": 2}


def test_sensitive_variable_is_marked_sensitive(load):
    config = load('variable "token" {\n  sensitive = true\n}\n', environ={"FP_VAR_token": "t"})
    token = config.variables["token"]
    assert token.sensitive and token.value == "t"
    assert str(token.type) == "any"


def test_invalid_value_for_a_sensitive_variable_is_not_shown(load):
    config = load('variable "pin" {\n  sensitive = true\n  type = number\n}\n',
                  variables={"pin": "hunter2"})
    [diagnostic] = list(config.diagnostics)
    assert diagnostic.summary == "Invalid value for variable"
    assert "hunter2" not in diagnostic.detail

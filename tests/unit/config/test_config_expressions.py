"""Expressions: templates, heredocs, operators, references, unknown and sensitive values, functions.

Most tests evaluate `locals` and read `Config.locals`.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from flowplan.values import KNOWN_AFTER_APPLY, Sensitive, Unknown

REPOSITORY = 'acr_repository "r" {\n  namespace = "n"\n  name = "r"\n}\n'
SECRET = 'variable "secret" {\n  sensitive = true\n  default = "hunter2"\n}\n'


@pytest.fixture
def evaluate(load):
    """evaluate("1 + 2") -> 3: the value of one local; fails on any diagnostic."""

    def _evaluate(expression: str, prelude: str = "", **kwargs):
        config = load(f"{prelude}locals {{\n  value = {expression}\n}}\n", **kwargs)
        assert [(str(d.range), d.summary, d.detail) for d in config.diagnostics] == []
        return config.locals["value"]

    return _evaluate


@pytest.fixture
def evaluation_error(load):
    """evaluation_error('lower(1, 2)') -> the single diagnostic; the local sits on line 2."""

    def _error(expression: str, prelude: str = "", **kwargs):
        config = load(f"{prelude}locals {{\n  value = {expression}\n}}\n", **kwargs)
        items = list(config.diagnostics)
        assert len(items) == 1, [(str(d.range), d.summary, d.detail) for d in items]
        return items[0]

    return _error


# -- templates ----------------------------------------------------------------------------------

def test_interpolation_renders_values_into_a_string(evaluate):
    prelude = 'variable "n" {\n  default = 3\n}\n'
    assert evaluate('"n=${var.n}, ok=${true}, half=${0.5}!"', prelude) == "n=3, ok=true, half=0.5!"


@pytest.mark.parametrize("expression, expected", [
    ('"${2}"', 2),
    ('"${true}"', True),
    ('"${[1, 2]}"', [1, 2]),
    ('"${{a = 1}}"', {"a": 1}),
    ('"x${2}"', "x2"),
])
def test_single_interpolation_keeps_the_type_of_its_value(evaluate, expression, expected):
    value = evaluate(expression)
    assert value == expected and type(value) is type(expected)


def test_string_escapes_and_literal_dollar_brace(evaluate):
    value = evaluate(r'"tab\tquote\"nl\nback\\slash $${literal} %%{directive} $$ $"')
    assert value == 'tab\tquote"nl\nback\\slash ${literal} %{directive} $$ $'


def test_heredoc_with_dash_trims_common_indentation_and_interpolates(evaluate):
    value = evaluate('<<-EOT\n'
                     '    first ${1 + 1}\n'
                     '      indented ${upper("x")}\n'
                     '    $${kept}\n'
                     '  EOT', 'variable "n" {\n  default = 3\n}\n')
    assert value == "first 2\n  indented X\n${kept}\n"


def test_heredoc_without_dash_keeps_indentation(evaluate):
    assert evaluate("<<EOT\n  keep ${1}\nEOT") == "  keep 1\n"


def test_undefined_reference_inside_a_heredoc_points_at_its_line_and_column(evaluation_error):
    diagnostic = evaluation_error("<<-EOT\n    ok\n    bad ${var.nope}\n  EOT")
    assert str(diagnostic.range) == "main.hcl:4:11"


def test_undefined_reference_inside_a_heredoc_points_at_its_line(evaluation_error):
    diagnostic = evaluation_error("<<-EOT\n    ok\n    bad ${var.nope}\n  EOT")
    assert diagnostic.range.line == 4
    assert diagnostic.summary == "Reference to undeclared input variable"


def test_template_directive_is_reported_as_unsupported(evaluation_error):
    diagnostic = evaluation_error('"%{ if true }x%{ endif }"')
    assert diagnostic.summary == "Unsupported expression"
    assert str(diagnostic.range) == "main.hcl:2:12"


@pytest.mark.parametrize("expression, rule", [
    ("[for x in [1] : x]", "for expression"),
    ("[{b = 1}][*].b", "splat expression"),
])
def test_unsupported_expressions_are_diagnostics(evaluation_error, expression, rule):
    diagnostic = evaluation_error(expression)
    assert diagnostic.summary == "Unsupported expression" and rule in diagnostic.detail
    assert str(diagnostic.range) == "main.hcl:2:11"


# -- operators ----------------------------------------------------------------------------------

@pytest.mark.parametrize("expression, expected", [
    ("1 + 2 * 3 - 4 / 2", 5),
    ("(1 + 2) * 3", 9),
    ("2 * 3 % 4", 2),
    ("7 % 3", 1),
    ("7 / 2", 3.5),
    ("1.5 * 2", 3.0),
    ("-3 + 1", -2),
    ("-(1 + 2)", -3),
    ('"2" + 3', 5),
])
def test_arithmetic_follows_precedence(evaluate, expression, expected):
    assert evaluate(expression) == expected


@pytest.mark.parametrize("expression, expected", [
    ("1 < 2", True), ("2 <= 2", True), ("3 > 4", False), ("4 >= 5", False),
    ("1 == 1.0", True), ('"a" != "b"', True), ('"a" == "a"', True), ("[1, 2] == [1, 2]", True),
    ("1 + 1 == 2", True),
])
def test_comparisons(evaluate, expression, expected):
    assert evaluate(expression) is expected


@pytest.mark.parametrize("expression, expected", [
    ("true && false", False), ("true || false", True), ("!true", False), ("!(1 > 2)", True),
    ("false || true && false", False), ("true || false && false", True),
    ("!false && !false", True),
])
def test_logical_operators_and_their_precedence(evaluate, expression, expected):
    assert evaluate(expression) is expected


def test_conditional_picks_a_branch(evaluate):
    prelude = 'variable "n" {\n  default = 3\n}\n'
    assert evaluate('var.n > 2 ? "big" : "small"', prelude) == "big"
    assert evaluate('var.n > 5 ? "big" : var.n == 3 ? "three" : "small"', prelude) == "three"


@pytest.mark.parametrize("expression, summary, detail", [
    ("1 / 0", "Division by zero", "right-hand side of / is zero"),
    ("5 % 0", "Division by zero", "right-hand side of % is zero"),
    ('"x" + 1', "Invalid operand", "A number is required, not string 'x'"),
    ("1 && true", "Invalid operand", "&& needs true or false, not number"),
    ('!"x"', "Invalid operand", "! needs true or false, not string"),
    ("1 ? 2 : 3", "Invalid condition", "must be true or false, not number"),
    ('"a${null}"', "Invalid template value", "null value cannot be used in a string"),
    ('"a${[1]}"', "Invalid template value", "list cannot be used in a string"),
])
def test_operator_mistakes_are_diagnostics(evaluation_error, expression, summary, detail):
    diagnostic = evaluation_error(expression)
    assert diagnostic.summary == summary and detail in diagnostic.detail
    assert diagnostic.range.line == 2
    assert diagnostic.address == "local.value"


# -- references, index and attribute access ----------------------------------------------------

def test_index_and_attribute_access(evaluate):
    prelude = ('variable "m" {\n  type = map(string)\n  default = {a = "x", b = "y"}\n}\n'
               'locals {\n  obj = {k = 1, "q" = [10, 20]}\n}\n')
    assert evaluate('["a", "b", "c"][1]', prelude) == "b"
    assert evaluate('var.m["b"]', prelude) == "y"
    assert evaluate("var.m.a", prelude) == "x"
    assert evaluate("local.obj.q[1]", prelude) == 20
    assert evaluate("local.obj.q.0", prelude) == 10
    assert evaluate('local.obj["k"]', prelude) == 1


def test_source_attributes_can_be_referenced(evaluate):
    prelude = 'source "app" {\n  url = "https://example.com/app.git"\n}\n'
    assert evaluate("source.app.url", prelude) == "https://example.com/app.git"
    assert evaluate("source.app.name", prelude) == "app"
    assert evaluate("source.app.branch", prelude) is None


def test_out_of_range_index_is_a_diagnostic(evaluation_error):
    diagnostic = evaluation_error("[1][5]")
    assert diagnostic.summary == "Invalid index"
    assert "Index 5 is out of range for a list of 1 elements" in diagnostic.detail


def test_attribute_of_a_string_is_a_diagnostic(evaluation_error):
    assert evaluation_error('"x".y').summary == "Unsupported attribute"


# -- unknown and sensitive values -----------------------------------------------------------------

@pytest.mark.parametrize("expression", [
    "acr_repository.r.id",
    '"id=${acr_repository.r.id}"',
    'acr_repository.r.id == "x"',
    "upper(acr_repository.r.id)",
    "acr_repository.r.id.deeper[0]",
    '{a = 1}[acr_repository.r.id]',
    'true ? acr_repository.r.id : "x"',
    'acr_repository.r.id ? "a" : "b"',
    "-acr_repository.r.id",
])
def test_unknown_values_propagate_through_expressions(evaluate, expression):
    assert evaluate(expression, REPOSITORY) == KNOWN_AFTER_APPLY


def test_known_attribute_of_a_resource_is_its_configured_value(evaluate):
    assert evaluate("acr_repository.r.name", REPOSITORY) == "r"
    assert evaluate("acr_repository.r.summary", REPOSITORY) == ""


def test_logical_operators_short_circuit_around_unknown(evaluate):
    assert evaluate("false && acr_repository.r.id == \"x\"", REPOSITORY) is False
    assert evaluate("true || acr_repository.r.id == \"x\"", REPOSITORY) is True
    assert isinstance(evaluate("true && acr_repository.r.id == \"x\"", REPOSITORY), Unknown)


def test_collections_holding_an_unknown_keep_it_inside(evaluate):
    assert evaluate("[acr_repository.r.id, 1]", REPOSITORY) == [KNOWN_AFTER_APPLY, 1]
    assert evaluate("length([acr_repository.r.id, 1])", REPOSITORY) == 2


@pytest.mark.parametrize("expression", [
    'join(",", [acr_repository.r.id, "x"])',
    "jsonencode({k = acr_repository.r.id})",
])
def test_function_arguments_containing_an_unknown_give_an_unknown(evaluate, expression):
    assert evaluate(expression, REPOSITORY) == KNOWN_AFTER_APPLY


@pytest.mark.parametrize("expression", [
    "var.secret",
    '"pw=${var.secret}"',
    "upper(var.secret)",
    'var.secret == "hunter2"',
    'var.secret == "x" ? "a" : "b"',
    'jsonencode({k = var.secret})',
    'lookup({a = var.secret}, "a")',
    "length(var.secret)",
])
def test_sensitive_values_propagate_through_expressions(evaluate, expression):
    assert isinstance(evaluate(expression, SECRET), Sensitive)


def test_template_with_a_sensitive_variable_is_sensitive_and_keeps_its_text(evaluate):
    value = evaluate('"pw=${var.secret}!"', SECRET)
    assert isinstance(value, Sensitive) and value.value == "pw=hunter2!"
    assert "hunter2" not in repr(value)


def test_sensitive_list_indexed_stays_sensitive(evaluate):
    prelude = 'variable "keys" {\n  sensitive = true\n  default = ["k1", "k2"]\n}\n'
    value = evaluate("var.keys[1]", prelude)
    assert isinstance(value, Sensitive) and value.value == "k2"


# -- functions ----------------------------------------------------------------------------------

def test_env_reads_the_environment(evaluate):
    assert evaluate('env("FOO")', environ={"FOO": "bar"}) == "bar"
    assert evaluate('env("FOO", "fallback")', environ={"FOO": "bar"}) == "bar"


def test_env_default_is_used_when_the_variable_is_missing(evaluate):
    assert evaluate('env("MISSING", "fallback")') == "fallback"
    assert evaluate('env("MISSING", "")') == ""


def test_env_without_default_of_a_missing_variable_is_an_error(evaluation_error):
    diagnostic = evaluation_error('env("MISSING")')
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:2:11",
                                                           "Environment variable not set")
    assert 'env("MISSING", "")' in diagnostic.detail


def test_file_reads_relative_to_the_config_directory(evaluate, config_dir):
    (config_dir / "scripts").mkdir()
    (config_dir / "scripts" / "deploy.sh").write_text("#!/bin/sh\necho hi\n")
    assert evaluate('file("scripts/deploy.sh")') == "#!/bin/sh\necho hi\n"


def test_file_that_does_not_exist_is_an_error(evaluation_error):
    diagnostic = evaluation_error('file("nope.txt")')
    assert diagnostic.summary == "Cannot read file" and 'file("nope.txt")' in diagnostic.detail


@pytest.mark.parametrize("expression, expected", [
    ('format("%s-%d", "a", 42)', "a-42"),
    ('format("%q", "say \\"hi\\"")', '"say \\"hi\\""'),
    ('format("100%%")', "100%"),
    ('format("%s %s", "x", 3)', "x 3"),
    ('format("%05.1f|%-4s|", 3.14159, "ab")', "003.1|ab  |"),
    ('format("%t %v", true, 7)', "true 7"),
    ('format("%d", "12")', "12"),
])
def test_format_verbs(evaluate, expression, expected):
    assert evaluate(expression) == expected


@pytest.mark.parametrize("expression, detail", [
    ('format("%d", "abc")', "needs a number"),
    ('format("%s %s", "a")', "not enough arguments"),
    ('format("%s", "a", "b")', "more than the format uses"),
])
def test_format_mistakes_are_diagnostics(evaluation_error, expression, detail):
    diagnostic = evaluation_error(expression)
    assert diagnostic.summary == "Invalid function arguments" and detail in diagnostic.detail


def test_join_lower_upper_length(evaluate):
    assert evaluate('join(",", ["a", 1, true])') == "a,1,true"
    assert evaluate('join("-", [])') == ""
    assert evaluate('lower("ABC")') == "abc"
    assert evaluate('upper("abc")') == "ABC"
    assert evaluate('length("abcd")') == 4
    assert evaluate("length([1, 2])") == 2
    assert evaluate("length({a = 1})") == 1


def test_join_of_a_string_and_length_of_a_number_are_errors(evaluation_error):
    assert "must be a list" in evaluation_error('join(",", "x")').detail
    assert "needs a string, list or map" in evaluation_error("length(5)").detail


def test_lookup_with_and_without_default(evaluate):
    assert evaluate('lookup({a = 1}, "a")') == 1
    assert evaluate('lookup({a = 1}, "a", 2)') == 1
    assert evaluate('lookup({a = 1}, "b", "dflt")') == "dflt"


def test_lookup_of_a_missing_key_without_default_is_an_error(evaluation_error):
    diagnostic = evaluation_error('lookup({a = 1}, "b")')
    assert diagnostic.summary == "Invalid function arguments"
    assert 'no key "b"' in diagnostic.detail


def test_jsonencode_is_compact_and_sorted(evaluate):
    value = evaluate('jsonencode({b = [1, "x", null], a = true})')
    assert value == '{"a":true,"b":[1,"x",null]}'
    assert json.loads(value) == {"a": True, "b": [1, "x", None]}


def test_hash_files_changes_when_a_matched_file_changes(load, config_dir):
    (config_dir / "svc").mkdir()
    pom = config_dir / "svc" / "pom.xml"
    pom.write_text("<project>1</project>")
    text = 'locals {\n  h = hash_files("**/pom.xml")\n}\n'
    first = load(text).locals["h"]
    assert len(first) == 64 and first == load(text).locals["h"]
    pom.write_text("<project>2</project>")
    second = load(text).locals["h"]
    assert second != first
    (config_dir / "other.xml").write_text("x")
    assert load(text).locals["h"] == second
    (config_dir / "pom.xml").write_text("root")
    assert load(text).locals["h"] != second


def test_hash_files_of_several_patterns_covers_every_file(load, config_dir):
    (config_dir / "a.lock").write_text("a")
    (config_dir / "b.json").write_text("b")
    digest = load('locals {\n  h = hash_files("*.lock", "*.json")\n}\n').locals["h"]
    expected = hashlib.sha256()
    for name in ("a.lock", "b.json"):
        expected.update(name.encode() + b"\0")
        expected.update(hashlib.sha256((config_dir / name).read_bytes()).digest())
    assert digest == expected.hexdigest()


def test_hash_files_without_a_match_is_empty(evaluate):
    assert evaluate('hash_files("**/*.nomatch")') == ""


def test_unknown_function_is_a_diagnostic_listing_the_functions(evaluation_error):
    diagnostic = evaluation_error('upperr("x")')
    assert (str(diagnostic.range), diagnostic.summary) == ("main.hcl:2:11",
                                                           "Call to unknown function")
    for name in ("env", "file", "format", "hash_files", "join", "jsonencode", "length",
                 "lookup", "lower", "upper"):
        assert name in diagnostic.detail


@pytest.mark.parametrize("expression", [
    "var.secret + 1",
    'lookup({}, var.secret)',
    "file(var.secret)",
    "env(var.secret)",
])
def test_errors_about_a_sensitive_value_do_not_show_it(evaluation_error, expression):
    diagnostic = evaluation_error(expression, SECRET)
    assert "hunter2" not in diagnostic.detail


@pytest.mark.parametrize("expression, constant", [
    ('"text"', True), ("42", True), ('"a${"b"}c"', True), ('["a", 1]', True),
    ('<<-EOT\n  heredoc\n  EOT', True), ('"a" == "b" ? "x" : "y"', True),
    ("var.key", False), ('env("KEY")', False), ('"prefix-${var.key}"', False),
    ('["a", var.key]', False), ('lower("A")', False), ('var.flag ? "x" : "y"', False),
])
def test_is_constant_tells_text_written_in_the_file_from_computed_values(expression, constant):
    from flowplan.config.expressions import is_constant
    from flowplan.config.syntax import parse_text

    parsed = parse_text("main.hcl", f"a = {expression}\n")
    assert parsed.diagnostics == []
    assert is_constant(parsed.body.attributes["a"].expr) is constant

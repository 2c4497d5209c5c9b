"""Untrusted values in `run` scripts stay data: rendered scripts are run by a real bash."""

from __future__ import annotations

import random
import re
import shlex
import subprocess

import pytest

from flowplan.executor.step_process.shellquote import (ShellTemplateError, Value, quote,
                                                    render_shell_template)

BRANCHES = [
    "master; touch {pwned}",
    "$(touch {pwned})",
    "`touch {pwned}`",
    "feature/x' ; touch {pwned}; echo '",
    'a" ; touch {pwned}; echo "',
    "line one\ntouch {pwned}\n",
    "$(touch {pwned})'\"`\\",
    "${{IFS}}touch${{IFS}}{pwned}",
    "EOF\ntouch {pwned}",
    "x\\",
    "*",
    "~",
    "X=1",
    "",
    "-n",
]


def bash(script: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, capture_output=True, text=True,
                          timeout=10)


@pytest.mark.parametrize("branch", BRANCHES)
def test_a_crafted_branch_name_is_echoed_not_run(tmp_path, branch):
    pwned = tmp_path / "pwned"
    value = branch.format(pwned=shlex.quote(str(pwned)))

    script = render_shell_template(["printf '%s\\n' ", Value(value, untrusted=True)])
    result = bash(script, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == value + "\n"
    assert not pwned.exists()


def test_echo_prints_the_literal_branch_name(tmp_path):
    pwned = tmp_path / "pwned"
    value = f"master; touch {pwned} $(touch {pwned}) `touch {pwned}`"

    result = bash(render_shell_template(["echo ", Value(value, untrusted=True)]), tmp_path)

    assert result.stdout == value + "\n"
    assert not pwned.exists()


# each template with the output it must print for a value v
PLACES = {
    "plain word": (["printf '%s\\n' ", None], "{v}"),
    "double quotes": (['printf \'%s\\n\' "branch: ', None, ' (built)"'], "branch: {v} (built)"),
    "single quotes": (["printf '%s\\n' 'branch: ", None, "'"], "branch: {v}"),
    "assignment": (["BRANCH=", None, "\nprintf '%s\\n' \"$BRANCH\""], "{v}"),
    "command substitution": (['printf \'%s\\n\' "$(printf \'%s\' ', None, ')"'], "{v}"),
    "comment": (["# deploying ", None, "\nprintf '%s\\n' done"], "done"),
    "here-document": (["cat <<EOF\nbranch: ", None, "\nEOF\n"], "branch: {v}"),
    "quoted here-document": (["cat <<'EOF'\nbranch: ", None, "\nEOF\n"], "branch: {v}"),
    "second here-document": (["cat <<A; cat <<B\none\nA\ntwo ", None, "\nB\n"], "one\ntwo {v}"),
    "after a case": (["case x in x) printf '%s\\n' ", None, ";; esac"], "{v}"),
    "after arithmetic": (["(( 1<<2 )); printf '%s\\n' ", None], "{v}"),
}


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("branch", BRANCHES)
def test_a_value_stays_data_wherever_the_script_puts_it(tmp_path, place, branch):
    template, expected = PLACES[place]
    pwned = tmp_path / "pwned"
    value = branch.format(pwned=shlex.quote(str(pwned)))
    parts = [Value(value) if part is None else part for part in template]

    try:
        script = render_shell_template(parts)
    except ShellTemplateError as error:  # refusing is fine, running is not
        assert "here-document" in place and "EOF" in value, error
        return
    result = bash(script, tmp_path)

    assert not pwned.exists(), script
    assert result.returncode == 0, (script, result.stderr)
    assert result.stdout.rstrip("\n") == expected.format(v=value).rstrip("\n"), script


def test_random_values_of_shell_syntax_stay_data(tmp_path):
    alphabet = "ab $()`'\"\\;|&<>{}*?~#!\n\t="
    generator = random.Random(20240501)
    values = ["".join(generator.choice(alphabet) for _ in range(generator.randint(0, 12)))
              for _ in range(40)]
    parts: list[str | Value] = []
    for value in values:  # one script, every value in double quotes and bare
        parts += ['printf \'[%s]\\n\' "', Value(value), '" ', Value(value), "\n"]

    result = bash(render_shell_template(parts), tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(f"[{value}]\n[{value}]\n" for value in values)
    assert list(tmp_path.iterdir()) == []


def test_trusted_values_and_literals_are_pasted_as_they_are():
    script = render_shell_template(
        ["echo ", Value("a b", untrusted=False), " ", Value("a b", untrusted=True)])
    assert script == "echo a b 'a b'"


@pytest.mark.parametrize(("template", "message"), [
    (["echo `echo ", None, "`"], "inside `...` (use $(...) instead)"),
    (["echo $'", None, "'"], "inside $'...'"),
    (['echo "${HOME:-', None, '}"'], "inside ${...}"),
    (["echo $((", None, " + 1))"], "inside arithmetic"),
    (["echo \\", None], 'can\'t follow a lone "\\"'),
    (["echo $", None], 'can\'t follow a lone "$"'),
    (['echo "$(case x in x) echo a;; esac) ', None, '"'], "after a `case` inside $(...)"),
])
def test_places_the_renderer_cannot_vouch_for_are_refused(template, message):
    parts = [Value("x") if part is None else part for part in template]
    with pytest.raises(ShellTemplateError, match=re.escape(message)):
        render_shell_template(parts)


def test_a_value_line_that_would_end_a_here_document_is_refused():
    with pytest.raises(ShellTemplateError, match="would end the here-document 'EOF'"):
        render_shell_template(["cat <<EOF\n", Value("EOF\nrm -rf ~"), "\nEOF\n"])
    with pytest.raises(ShellTemplateError, match="would end the here-document"):
        render_shell_template(["cat <<-END\nE", Value("N"), "D\nEND\n"])


@pytest.mark.parametrize(("value", "quoted"), [
    ("master", "master"),
    ("feature/x-1.2", "feature/x-1.2"),
    ("", "''"),
    ("a b", "'a b'"),
    ("it's", "'it'\"'\"'s'"),
    ("X=1", "'X=1'"),
    ("~root", "'~root'"),
])
def test_quote(value, quoted):
    assert quote(value) == quoted


def test_quote_refuses_nul():
    with pytest.raises(ShellTemplateError, match="NUL"):
        quote("a\0b")

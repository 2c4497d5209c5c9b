"""java_code_scan reads what a repository holds: its Java files and its rule file. Whatever they
are (malformed, huge, symlinks out of the workspace, a YAML bomb, an invalid query), the step
ends with a clear error or a logged note, never a traceback, and reads nothing outside the
workspace."""

from __future__ import annotations

import os
import threading

import pytest
from java_scan_support import DOC, run_scan, write
from pydantic import ValidationError

from flowplan.executor.status import Status
from flowplan.steps.java_scan import JavaCodeScanStep
from flowplan.steps.java_scan.custom import MAX_RULE_FILE_BYTES
from flowplan.steps.java_scan.scanner import MAX_FILE_BYTES

CLEAN = DOC + "public class Clean {\n}\n"


def no_traceback(scan) -> None:
    said = "\n".join([*scan.lines, scan.result.error or ""])
    assert "Traceback" not in said and "step type java_code_scan failed" not in said


# -- Java files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    b"public class {{{ ;;; \"unterminated",
    b"\x00\x01\x02\xff\xfe binary \x00 data",
    b"\xff\xfeclass Latin1 { String s = \"\xe9\"; }",
    b"",
    b"/** @author x */ class A { void f() { if (a) " + b"(" * 5000 + b"x" + b")" * 5000 + b"; } }",
], ids=["garbage", "binary", "not-utf8", "empty", "deep-nesting"])
def test_a_malformed_java_file_is_scanned_for_what_parses_with_a_note(tmp_path, content):
    workspace = write(tmp_path / "w", {"Bad.java": content, "Clean.java": CLEAN})
    scan = run_scan(tmp_path, workspace, fail_on="major")
    no_traceback(scan)
    assert scan.result.summary["files"] == 2
    if content:
        assert any(line.startswith("note: Bad.java:") and "does not parse as Java" in line
                   for line in scan.lines) or content.startswith(b"/**")


def test_deeply_nested_blocks_do_not_exhaust_the_stack(tmp_path):
    depth = 20_000
    source = DOC + "class Deep { void f() { " + "{ " * depth + "x = 1l; " + "} " * depth + "} }"
    workspace = write(tmp_path / "w", {"Deep.java": source})
    scan = run_scan(tmp_path, workspace)
    no_traceback(scan)
    assert scan.result.error == "1 finding at or above blocker"     # UpperEllRule, found deep


def test_an_oversized_file_is_skipped_with_a_note(tmp_path):
    big = CLEAN.encode() + b"// " + b"x" * MAX_FILE_BYTES + b"\n"
    workspace = write(tmp_path / "w", {"Big.java": big, "Clean.java": CLEAN})
    scan = run_scan(tmp_path, workspace)
    no_traceback(scan)
    assert scan.result.status == Status.SUCCEEDED and scan.result.summary["files"] == 1
    assert f"note: skipped Big.java: {len(big)} bytes, over the limit of {MAX_FILE_BYTES}" \
        in scan.lines


def test_a_java_symlink_to_a_file_outside_is_skipped_unread(tmp_path):
    outside = write(tmp_path / "outside", {"Secret.java": "class secret_stuff { int Root_Pw; }"})
    workspace = write(tmp_path / "w", {"Clean.java": CLEAN})
    os.symlink("/etc/passwd", workspace / "Passwd.java")
    os.symlink(outside / "Secret.java", workspace / "Secret.java")
    scan = run_scan(tmp_path, workspace, fail_on="major")
    no_traceback(scan)
    assert scan.result.status == Status.SUCCEEDED and scan.result.summary["files"] == 1
    assert "note: skipped Passwd.java: a symlink leading out of the workspace" in scan.lines
    assert "note: skipped Secret.java: a symlink leading out of the workspace" in scan.lines
    assert not any("root:" in line or "secret_stuff" in line for line in scan.lines)


def test_a_directory_symlink_leading_outside_is_not_walked(tmp_path):
    outside = write(tmp_path / "outside", {"Other.java": "class other_stuff {}"})
    workspace = write(tmp_path / "w", {"Clean.java": CLEAN})
    os.symlink(outside, workspace / "linked")
    scan = run_scan(tmp_path, workspace, fail_on="major")
    assert scan.result.status == Status.SUCCEEDED and scan.result.summary["files"] == 1


def test_a_symlink_inside_the_workspace_is_scanned(tmp_path):
    workspace = write(tmp_path / "w", {"real/Bad.java": DOC + "class bad_name {\n}\n"})
    os.symlink("real/Bad.java", workspace / "Alias.java")
    scan = run_scan(tmp_path, workspace, fail_on="major")
    assert scan.result.summary["files"] == 2


def test_a_fifo_named_java_is_skipped_without_blocking(tmp_path):
    workspace = write(tmp_path / "w", {"Clean.java": CLEAN})
    os.mkfifo(workspace / "Pipe.java")
    done = threading.Event()
    scans = []

    def scan_it():
        scans.append(run_scan(tmp_path, workspace))
        done.set()

    threading.Thread(target=scan_it, daemon=True).start()
    assert done.wait(20), "the scan blocked on a FIFO"
    assert "note: skipped Pipe.java: not a regular file" in scans[0].lines


# -- paths in the attributes ---------------------------------------------------------------------

@pytest.mark.parametrize("attribute, value", [
    ("sub_folder", "../x"), ("sub_folder", "/etc"), ("sub_folder", "src/../../x"),
    ("sub_folder", "~/x"), ("custom_rules", "../rules.yml"), ("custom_rules", "/etc/passwd"),
    ("exclude", ["../x"]), ("sub_folder", "a\0b"),
])
def test_attribute_paths_must_stay_relative_to_the_workspace(attribute, value):
    with pytest.raises(ValidationError) as caught:
        JavaCodeScanStep(type="java_code_scan", **{attribute: value})
    assert attribute in str(caught.value)


def test_a_sub_folder_symlink_leading_outside_fails_the_step(tmp_path):
    outside = write(tmp_path / "outside", {"Other.java": CLEAN})
    workspace = write(tmp_path / "w", {"Clean.java": CLEAN})
    os.symlink(outside, workspace / "src")
    scan = run_scan(tmp_path, workspace, sub_folder="src")
    assert scan.result.status == Status.FAILED
    assert scan.result.error == f"sub_folder 'src' escapes {workspace}"


def test_a_missing_sub_folder_fails_the_step(tmp_path):
    workspace = write(tmp_path / "w", {"Clean.java": CLEAN})
    scan = run_scan(tmp_path, workspace, sub_folder="nope")
    assert (scan.result.status, scan.result.error) == (
        Status.FAILED, "sub_folder 'nope' is not a directory of the workspace")


# -- the rule file -------------------------------------------------------------------------------

def scan_with_rules(tmp_path, rules: str | bytes):
    workspace = write(tmp_path / "w", {"Clean.java": CLEAN, "rules.yml": rules})
    scan = run_scan(tmp_path, workspace, custom_rules="rules.yml")
    no_traceback(scan)
    assert scan.result.status == Status.FAILED
    assert scan.result.artifacts == ()
    return scan


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
rules: *g
"""

GOOD_RULE = """\
  - id: NoExit
    query: '(method_invocation name: (identifier) @n (#eq? @n "exit")) @violation'
    message: no exit
    severity: major
"""


@pytest.mark.parametrize("rules, error", [
    ("rules: [unclosed", "custom_rules rules.yml: not valid YAML at line 1, column 17: "
                         "expected ',' or ']', but got '<stream end>'"),
    (BILLION_LAUGHS, "custom_rules rules.yml: not valid YAML at line 1, column 4: "
                     "anchors (&name) are not allowed"),
    ("rules: " + "[" * 200 + "]" * 200, "custom_rules rules.yml: not valid YAML at line 1, "
                                        "column 27: nested deeper than 20 levels"),
    ("- just\n- a list\n", "custom_rules rules.yml: must be a mapping with `rules` and `disable`"),
    (b"rules: [\xff\xfe]", "custom_rules rules.yml: not UTF-8 text (byte 8)"),
    ("rules: !!python/object/apply:os.system ['echo pwned']",
     "custom_rules rules.yml: not valid YAML at line 1, column 8: could not determine a "
     "constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("rules:\n  - id: Bad\n    query: '(method_invocation'\n    message: m\n    severity: major\n",
     "custom_rules rules.yml: rule 'Bad': invalid query: Unexpected EOF"),
    ("rules:\n  - id: Bad\n    query: '(no_such_node) @x'\n    message: m\n    severity: major\n",
     "custom_rules rules.yml: rule 'Bad': invalid query: Invalid node type at row 0, "
     "column 1: no_such_node"),
    ("rules:\n  - id: Bad\n    query: '(identifier)'\n    message: m\n    severity: major\n",
     "custom_rules rules.yml: rule 'Bad': the query captures nothing; mark the node to report "
     "with @violation"),
    ("rules:\n  - id: Bad\n    query: '(identifier) @x'\n    message: m\n    severity: fatal\n",
     "custom_rules rules.yml: rule 'Bad'.severity: must be one of blocker, critical, major"),
    ("rules:\n  - id: Bad\n    query: '(identifier) @x'\n    message: m\n    severity: major\n"
     "    shell: rm -rf /\n", "custom_rules rules.yml: rule 'Bad'.shell: is not a known key"),
    ("rules:\n  - id: NeedBraceRule\n    query: '(identifier) @x'\n    message: m\n"
     "    severity: major\n",
     "custom_rules rules.yml: rule 'NeedBraceRule': a built-in rule has that id"),
    ("rules:\n" + GOOD_RULE + GOOD_RULE,
     "custom_rules rules.yml: rule 'NoExit': defined twice"),
    ("rules:\n  - query: '(identifier) @x'\n    message: m\n    severity: 3\n",
     "custom_rules rules.yml: rules.0.id: Field required; rules.0.severity: must be one of "
     "blocker, critical, major"),
    ("disable: 12", "custom_rules rules.yml: disable: Input should be a valid list"),
], ids=["malformed-yaml", "yaml-bomb", "deep-nesting", "not-a-mapping", "not-utf8",
        "python-tag", "unfinished-query", "unknown-node-type", "no-capture", "unknown-severity",
        "unknown-key", "built-in-id", "duplicate-id", "missing-id-and-bad-severity",
        "disable-not-a-list"])
def test_a_broken_rule_file_fails_the_step_with_every_reason(tmp_path, rules, error):
    assert scan_with_rules(tmp_path, rules).result.error == error


def test_disabling_an_unknown_rule_lists_the_known_ones(tmp_path):
    scan = scan_with_rules(tmp_path, "disable: [NeedBraces, NeedBraceRule]\n")
    assert scan.result.error.startswith("custom_rules rules.yml: disable: unknown rule id "
                                        "'NeedBraces'; the built-in rules are "
                                        "AbstractClassShouldStartWithAbstractNamingRule, ")
    assert "NeedBraceRule" in scan.result.error


def test_an_oversized_rule_file_fails_the_step(tmp_path):
    scan = scan_with_rules(tmp_path, "# " + "x" * MAX_RULE_FILE_BYTES + "\n")
    assert scan.result.error == (f"custom_rules rules.yml: cannot be read: "
                                 f"{MAX_RULE_FILE_BYTES + 3} bytes, over the limit of "
                                 f"{MAX_RULE_FILE_BYTES}")


def test_a_rule_file_symlink_leading_outside_fails_unread(tmp_path):
    workspace = write(tmp_path / "w", {"Clean.java": CLEAN})
    os.symlink("/etc/passwd", workspace / "rules.yml")
    scan = run_scan(tmp_path, workspace, custom_rules="rules.yml")
    assert (scan.result.status, scan.result.error) == (
        Status.FAILED, "custom_rules rules.yml: leads out of the workspace")
    assert not any("root:" in line for line in scan.lines)


def test_a_missing_rule_file_fails_the_step(tmp_path):
    workspace = write(tmp_path / "w", {"Clean.java": CLEAN})
    scan = run_scan(tmp_path, workspace, custom_rules="rules.yml")
    assert scan.result.error == "custom_rules rules.yml: cannot be read: No such file or " \
                                "directory"


def test_every_problem_of_a_rule_file_is_logged_on_a_line_of_its_own(tmp_path):
    scan = scan_with_rules(tmp_path, "rules:\n  - id: A\n    query: '(x'\n    message: m\n"
                                     "    severity: major\ndisable: [Nope]\n")
    assert scan.lines[:2] == [
        "custom_rules rules.yml: rule 'A': invalid query: Invalid node type at row 0, column 1: x",
        "custom_rules rules.yml: disable: unknown rule id 'Nope'; the built-in rules are "
        + scan.lines[1].split("the built-in rules are ")[1]]


def test_a_message_placeholder_is_capture_text_and_nothing_else(tmp_path):
    rules = ("rules:\n  - id: Shout\n    query: '(class_declaration name: (identifier) @name)'\n"
             "    message: '{name} {0.__class__} {missing} {__class__}'\n    severity: major\n")
    workspace = write(tmp_path / "w", {"Clean.java": CLEAN, "rules.yml": rules})
    scan = run_scan(tmp_path, workspace, custom_rules="rules.yml", fail_on="blocker")
    assert scan.result.summary["lines"] == [
        "Clean.java:6 [major] Shout: Clean {0.__class__} {missing} {__class__}"]

"""The java_code_scan step type run in-process over a workspace: what it logs, its outputs,
summary and SARIF report, `fail_on`, `sub_folder`, `exclude` and custom rule files."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from cli_workspace import check_golden
from java_scan_support import DOC, run_scan, write

from flowplan.executor.status import Status
from flowplan.steps.java_scan.rules import BUILTIN_IDS

PROJECT = Path(__file__).resolve().parent / "java_project"


@pytest.fixture
def project(tmp_path) -> Path:
    workspace = tmp_path / "workspace"
    shutil.copytree(PROJECT, workspace)
    return workspace


def test_fixture_project_findings_log_and_summary_match_the_golden_file(tmp_path, project):
    scan = run_scan(tmp_path, project, exclude=["**/generated"],
                    custom_rules=".flowplan-rules.yml")
    log = [re.sub(r" in \d+\.\d+s$", " in <seconds>", line) for line in scan.lines]
    summary = scan.result.summary
    check_golden("java_scan_fixture.txt",
                 "\n".join(["# log", *log, "", "# summary", summary["title"], *summary["lines"],
                            ""]))
    assert scan.result.status == Status.FAILED
    assert scan.result.error == "5 findings at or above blocker"
    assert scan.result.outputs == {"blocker": "5", "critical": "4", "major": "3",
                                   "total": "12"}
    assert summary["counts"] == {"blocker": 5, "critical": 4, "major": 3, "total": 12}
    assert summary["files"] == 5 and summary["report"] == "t.scan.sarif"


@pytest.mark.parametrize("fail_on, status, error", [
    ("blocker", Status.SUCCEEDED, None),
    ("critical", Status.FAILED, "1 finding at or above critical"),
    ("major", Status.FAILED, "2 findings at or above major"),
])
def test_fail_on_is_a_severity_threshold(tmp_path, fail_on, status, error):
    workspace = write(tmp_path / "w", {
        "Sample.java": DOC + "public class Sample {\n"
                             "    private static final int maxSize = 1;\n"    # critical
                             "    Object map = new java.util.HashMap<>();\n"   # major
                             "}\n"})
    scan = run_scan(tmp_path, workspace, fail_on=fail_on)
    assert (scan.result.status, scan.result.error) == (status, error)
    assert scan.result.outputs == {"blocker": "0", "critical": "1", "major": "1", "total": "2"}


def test_a_clean_workspace_succeeds_with_zero_outputs_and_an_empty_report(tmp_path):
    workspace = write(tmp_path / "w", {"src/Ok.java": DOC + "public class Ok {\n}\n"})
    scan = run_scan(tmp_path, workspace)
    assert scan.result.status == Status.SUCCEEDED
    assert scan.result.outputs == {"blocker": "0", "critical": "0", "major": "0", "total": "0"}
    assert scan.result.summary["title"] == "0 findings: 0 blocker, 0 critical, 0 major " \
                                           "(1 file scanned)"
    assert json.loads(scan.report.read_text())["runs"][0]["results"] == []


def test_sub_folder_limits_the_scan_and_paths_stay_workspace_relative(tmp_path, project):
    scan = run_scan(tmp_path, project, sub_folder="src/test/java")
    assert scan.result.summary["files"] == 1
    assert scan.result.summary["lines"] == [
        "src/test/java/com/example/orders/OrderChecks.java:10 [major] "
        "TestClassShouldEndWithTestNamingRule: test class [OrderChecks] should end with Test",
        "src/test/java/com/example/orders/OrderChecks.java:13 [critical] "
        "AvoidManuallyCreateThreadRule: explicit new Thread: take threads from a thread pool"]


@pytest.mark.parametrize("patterns, scanned", [
    ([], 6),
    (["**/generated"], 5),
    (["src/main/**"], 1),
    (["**/Order*.java"], 2),
    (["src/*/java/com/example/orders/Broken.java"], 5),
])
def test_exclude_globs_are_relative_to_the_workspace(tmp_path, project, patterns, scanned):
    assert run_scan(tmp_path, project, exclude=patterns).result.summary["files"] == scanned


def test_custom_rules_add_a_rule_and_disable_a_built_in_one(tmp_path, project):
    scan = run_scan(tmp_path, project, custom_rules=".flowplan-rules.yml", fail_on="major")
    ids = {line.split("] ")[1].split(":")[0] for line in scan.result.summary["lines"]}
    assert "NoSystemExit" in ids and "AvoidManuallyCreateThreadRule" not in ids
    assert "src/main/java/com/example/orders/OrderHandler.java:35 [critical] NoSystemExit: " \
           "System.exit ends the whole JVM" in scan.result.summary["lines"]
    sarif = json.loads(scan.report.read_text())
    rules = [rule["id"] for rule in sarif["runs"][0]["tool"]["driver"]["rules"]]
    assert "NoSystemExit" in rules and "AvoidManuallyCreateThreadRule" not in rules
    assert len(rules) == len(BUILTIN_IDS)


def test_sarif_report_is_sarif_2_1_0_with_rules_results_and_relative_locations(tmp_path,
                                                                               project):
    scan = run_scan(tmp_path, project, exclude=["**/generated"],
                    custom_rules=".flowplan-rules.yml")
    artifact, = scan.result.artifacts
    assert artifact.name == "t.scan.sarif"
    assert artifact.path == scan.layout.artifact_file("t.scan.sarif")
    sarif = json.loads(artifact.path.read_text())
    assert sarif["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert sarif["version"] == "2.1.0"
    run, = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "flowplan java_code_scan"
    by_id = {rule["id"]: rule for rule in driver["rules"]}
    assert by_id["NeedBraceRule"]["defaultConfiguration"] == {"level": "error"}
    assert by_id["NeedBraceRule"]["properties"]["category"] == "flowcontrol"
    assert by_id["NeedBraceRule"]["properties"]["severity"] == "blocker"
    assert by_id["ClassMustHaveAuthorRule"]["defaultConfiguration"] == {"level": "warning"}
    assert by_id["NoSystemExit"]["properties"] == {"category": "custom", "severity": "critical",
                                                   "tags": ["custom"]}
    assert len(run["results"]) == 12
    brace = next(r for r in run["results"] if r["ruleId"] == "NeedBraceRule")
    assert driver["rules"][brace["ruleIndex"]]["id"] == "NeedBraceRule"
    assert brace["level"] == "error"
    assert brace["message"] == {"text": "missing braces in if statement"}
    assert brace["locations"] == [{"physicalLocation": {
        "artifactLocation": {"uri": "src/main/java/com/example/orders/OrderHandler.java",
                             "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 21, "startColumn": 13}}}]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["CollectionInitShouldAssignCapacityRule"] == "warning"
    assert levels["ServiceOrDaoClassShouldEndWithImplRule"] == "error"


def test_sarif_uri_of_a_path_with_spaces_is_percent_encoded(tmp_path):
    workspace = write(tmp_path / "w", {"my src/Bad Name.java": DOC + "class bad_name {\n}\n"})
    sarif = json.loads(run_scan(tmp_path, workspace).report.read_text())
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in sarif["runs"][0]["results"]}
    assert uris == {"my%20src/Bad%20Name.java"}


def test_a_canceled_scan_stops_before_the_next_file(tmp_path, project):
    cancel = threading.Event()
    cancel.set()
    scan = run_scan(tmp_path, project, cancel=cancel)
    assert (scan.result.status, scan.result.error) == (Status.CANCELED, "canceled")


def test_a_scan_past_its_deadline_fails_as_timed_out(tmp_path, project):
    scan = run_scan(tmp_path, project, deadline=time.monotonic() - 1)
    assert (scan.result.status, scan.result.error) == (Status.FAILED,
                                                       "timed out: 10m ran out")


def test_many_findings_are_all_in_the_report_but_the_summary_keeps_fifty(tmp_path):
    fields = "".join(f"    int Bad_{n} = 0;\n" for n in range(60))
    workspace = write(tmp_path / "w", {"Many.java": DOC + f"public class Many {{\n{fields}}}\n"})
    scan = run_scan(tmp_path, workspace, fail_on="major")
    lines = scan.result.summary["lines"]
    assert len(lines) == 51 and lines[-1] == "... and 10 more"
    assert scan.result.outputs["total"] == "60"
    assert len(json.loads(scan.report.read_text())["runs"][0]["results"]) == 60

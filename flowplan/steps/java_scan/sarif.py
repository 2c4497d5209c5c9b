"""The SARIF 2.1.0 report of a Java code scan, as GitHub code scanning, editors and SARIF tools
read it.

One run, whose tool driver is `flowplan java_code_scan` with every rule the scan ran (id,
shortDescription, defaultConfiguration.level, properties.category and properties.severity, and
the category as a tag); one result per finding with its ruleId and ruleIndex, its level
(`blocker` and `critical` are `error`, `major` is `warning`), its message and its location:
the file's path relative to the workspace as a URI against `%SRCROOT%`, and the 1-based line and
column (columns count Unicode code points: `columnKind` says so). Keeping the file with the run's
artifacts is step.py's (flowplan.steps.reports.write_report).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import quote

from flowplan.steps.java_scan.rules import Finding, Rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "flowplan java_code_scan"
LEVELS = {"blocker": "error", "critical": "error", "major": "warning"}


def _tool_version() -> str:
    try:
        return version("flowplan")
    except PackageNotFoundError:
        return "0"


def sarif_log(rules: Sequence[Rule], findings: Sequence[Finding]) -> dict[str, Any]:
    """The SARIF log of `findings` from `rules` (each finding's rule must be among them)."""
    index = {rule.id: position for position, rule in enumerate(rules)}
    descriptors = [{
        "id": rule.id,
        "name": rule.id,
        "shortDescription": {"text": rule.description},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": {"category": rule.category, "severity": rule.severity,
                       "tags": [rule.category]},
    } for rule in rules]
    results = [{
        "ruleId": finding.rule_id,
        "ruleIndex": index[finding.rule_id],
        "level": LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": quote(finding.path), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": finding.line, "startColumn": finding.column},
            },
        }],
        "properties": {"severity": finding.severity},
    } for finding in findings]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "version": _tool_version(),
                                "rules": descriptors}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def sarif_bytes(rules: Sequence[Rule], findings: Sequence[Finding]) -> bytes:
    return (json.dumps(sarif_log(rules, findings), indent=2, ensure_ascii=False)
            + "\n").encode("utf-8")

"""The `java_code_scan` step type: static checks of a workspace's Java files in the spirit of
Alibaba's Java coding guidelines (p3c), with tree-sitter's Java grammar.

`step` holds the step type and its attributes; `rules` the built-in rules; `custom` a
repository's own rule file; `scanner` finding, reading and parsing files and running the rules;
`incremental` the files changed since the last successful scan; `sarif` the report. The step
type is registered through the `flowplan.step_types` entry point `java_code_scan`.
"""

from flowplan.steps.java_scan.step import JavaCodeScanStep, JavaCodeScanStepType

__all__ = ["JavaCodeScanStep", "JavaCodeScanStepType"]

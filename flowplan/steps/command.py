"""The `command` step type: a shell script whose exit code decides.

The script (attribute `run`, rendered with untrusted interpolations shell-quoted by
flowplan.config.runtime.render_script) runs as `<shell words> -c <script>` — `bash -e -c ...` by
default — in the task's workspace, in its own process group, with the step's environment. A script
too long for one argument is written to a file in the task's private directory (outside
`.flowplan/`, readable by the step's user only) and passed by path instead. With `run_as`, the
process runs as that user and `$FLOWPLAN_OUTPUT` is a file made for it beforehand. After the
process ends, `$FLOWPLAN_OUTPUT` is read for the step's outputs: `NAME=VALUE` lines, or
`NAME<<DELIMITER` ... `DELIMITER` for several lines. If `outputs` lists names, only those are kept
and a missing one fails the step.
"""

from __future__ import annotations

import re
from pathlib import Path

from flowplan.config.steps import CommandStep
from flowplan.executor.status import Status
from flowplan.executor.step_process import step_user
from flowplan.executor.step_type import StepContext, StepResult
from flowplan.steps.running import run_in_step, script_argv

OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class CommandStepType:
    name = "command"
    config_model = CommandStep
    script_attributes = ("run",)

    def run(self, context: StepContext) -> StepResult:
        config: CommandStep = context.config
        try:
            argv = script_argv(context, config.run, config.shell)
        except ValueError as exc:
            return StepResult(Status.FAILED, error=str(exc))
        if context.user is None:
            context.output_file.unlink(missing_ok=True)
        else:
            step_user.output_file(context.output_file, context.user)
        finished = run_in_step(context, argv, timeout=config.timeout)
        if finished.failure is not None:
            return finished.failure
        outputs, problem = read_outputs(context.output_file, config.outputs)
        if finished.exit_code != 0:
            return StepResult(Status.FAILED, exit_code=finished.exit_code, outputs=outputs,
                              error=f"exit code {finished.exit_code}")
        if problem:
            return StepResult(Status.FAILED, exit_code=0, outputs=outputs, error=problem)
        return StepResult(Status.SUCCEEDED, exit_code=0, outputs=outputs)


def read_outputs(path: Path, declared: list[str]) -> tuple[dict[str, str], str | None]:
    """The outputs a step wrote to its output file, and what is wrong with them, if anything."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        text = ""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index].rstrip("\r")
        index += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            while index < len(lines) and lines[index].rstrip("\r") != delimiter:
                body.append(lines[index])
                index += 1
            if index >= len(lines):
                return outputs, f"$FLOWPLAN_OUTPUT: {name.strip()}<<{delimiter} is never closed"
            index += 1
            name, value = name.strip(), "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            name = name.strip()
        else:
            return outputs, f"$FLOWPLAN_OUTPUT line {index} is not NAME=VALUE: {line[:80]!r}"
        if not OUTPUT_NAME.match(name):
            return outputs, f"$FLOWPLAN_OUTPUT: {name!r} is not an output name"
        outputs[name] = value
    if declared:
        missing = [name for name in declared if name not in outputs]
        outputs = {name: value for name, value in outputs.items() if name in declared}
        if missing:
            return outputs, (f"declared output{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(missing)} not written to $FLOWPLAN_OUTPUT")
    return outputs, None

"""The operator's key (FLOWPLAN_SECRET_KEY, or the file FLOWPLAN_SECRET_KEY_FILE names) never
reaches a step's environment, and is masked wherever a step that finds it anyway could put it:
log lines, step outputs, and the errors recorded for steps, tasks and runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import command, log_text, make_service, one_step, pipeline, stage, steps_of, task

from flowplan.executor.secrets import KEY_FILE_VARIABLE, KEY_VARIABLE
from flowplan.executor.status import Status

KEY = "operator-key-0123456789-abcdefg"     # 31: its base64 ends in a partial group
HERE = Path(__file__).parent

# Every ancestor's environment, as a step running as flowplan's user may read it: its parent
# (the process driving the run) first.
ANCESTOR_ENVIRONMENTS = r"""
pid=$PPID
while [ "$pid" -gt 1 ]; do
  tr '\0' '\n' < /proc/$pid/environ | grep '^FLOWPLAN_SECRET_KEY' | sed "s/^/$pid: /" || true
  pid=$(ps -o ppid= -p "$pid" | tr -d ' ')
done
echo done
"""


def write_key_file(directory: Path) -> Path:
    path = directory / "secret.key"
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    return path


def test_a_step_reading_its_drivers_environment_gets_the_key_masked(config_dir, tmp_path):
    definition = tmp_path / "definition.json"
    definition.write_text(json.dumps(one_step(ANCESTOR_ENVIRONMENTS)))
    environment = {**os.environ, KEY_VARIABLE: KEY}
    driver = subprocess.run([sys.executable, str(HERE / "run_in_process.py"), str(config_dir),
                             "app", str(definition)], env=environment, capture_output=True,
                            text=True, timeout=120)
    assert driver.stdout.split()[-1] == "succeeded", driver.stderr
    service = make_service(config_dir)
    lines = log_text(service, "app#1")
    service.store.close()
    found = [line for line in lines if "FLOWPLAN_SECRET_KEY=" in line]
    assert found and all(line.endswith("FLOWPLAN_SECRET_KEY=***") for line in found), lines
    assert not any(KEY in line for line in lines)


def test_a_step_never_sees_the_key_variables(config_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(write_key_file(tmp_path)))
    service = make_service(config_dir)
    script = "echo key=${FLOWPLAN_SECRET_KEY:-unset} file=${FLOWPLAN_SECRET_KEY_FILE:-unset}"
    assert service.start("app", one_step(script)).status == Status.SUCCEEDED
    assert log_text(service, "app#1") == ["key=unset file=unset"]


def test_the_key_from_the_key_file_is_masked_in_logs_outputs_and_errors(config_dir, tmp_path,
                                                                        monkeypatch):
    key_file = write_key_file(tmp_path)
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(key_file))
    service = make_service(config_dir)
    read = f"cat {key_file}"
    definition = pipeline({"s": stage({
        "leak": task(("print", command(f"{read}; base64 < {key_file}; "
                                       f"printf %s \"$({read})\" | base64")),
                     ("output", command(f'echo "stolen=$({read})" >> "$FLOWPLAN_OUTPUT"'))),
        "late": task(("x", command("true")), when={"$deferred": f"${{file(\"{key_file}\")}}",
                                                   "sensitive": False}),
    })})
    outcome = service.start("app", definition)
    assert outcome.status == Status.FAILED
    assert log_text(service, "app#1", step="print") == ["***", "***", "***"]
    assert steps_of(service, "app#1")[("leak", "output")].outputs == {"stolen": "***"}
    tasks = {t.task: t for t in service.store.task_runs(service.get("app#1").id)}
    assert tasks["late"].status == Status.FAILED
    assert tasks["late"].error.startswith("when: ") and KEY not in tasks["late"].error, \
        tasks["late"].error
    assert "***" in tasks["late"].error


def test_the_key_in_the_environment_is_masked_too(config_dir, monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    service = make_service(config_dir)
    outcome = service.start("app", one_step(f"echo {KEY}"))
    assert outcome.status == Status.SUCCEEDED
    assert log_text(service, "app#1") == ["***"]

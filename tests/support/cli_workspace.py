"""What the end-to-end tests share: a config directory with the recorder's files beside it, the
result of one `flowplan` run, plan-text normalisation and golden-file comparison.

The fixtures that build these live in tests/e2e/conftest.py; the recorder itself in
recorder_provider.py next to this module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUPPORT = REPO / "tests" / "support"
GOLDEN = REPO / "tests" / "golden"
PLUGINS = ("alicloud=recorder_provider:RecorderProvider,"
           "github=recorder_provider:RecorderProvider")
ANSI = re.compile(rb"\x1b\[")


def flowplan_command() -> list[str]:
    found = shutil.which("flowplan")
    return [found] if found else [sys.executable, "-m", "flowplan.cli"]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    args: tuple[str, ...] = ()

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return (f"flowplan {' '.join(self.args)} -> exit {self.code}\n--- stdout ---\n"
                f"{self.stdout}\n--- stderr ---\n{self.stderr}")


@dataclass
class Workspace:
    """A config directory, the recorder's files beside it, and the environment to run in."""

    root: Path
    config: Path
    recorder: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def state_path(self) -> Path:
        return self.config / ".flowplan" / "state.json"

    @property
    def lock_path(self) -> Path:
        return self.config / ".flowplan" / "state.json.lock"

    @property
    def store_path(self) -> Path:
        return self.config / ".flowplan" / "flowplan.db"

    @property
    def log_path(self) -> Path:
        return self.recorder / "calls.jsonl"

    @property
    def objects_path(self) -> Path:
        return self.recorder / "objects.json"

    def write(self, text: str, name: str = "main.hcl") -> Path:
        """Write a config file (dedented); replaces the file of that name."""
        path = self.config / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def remove(self, name: str) -> None:
        (self.config / name).unlink()

    def state(self) -> dict:
        with open(self.state_path, encoding="utf-8") as source:
            return json.load(source)

    def state_addresses(self) -> list[str]:
        return [r["address"] for r in self.state()["resources"]]

    def calls(self, method: str | None = None) -> list[dict]:
        """The recorder's calls, in order, optionally only one method's."""
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        calls = [json.loads(line) for line in lines if line.strip()]
        return [c for c in calls if method is None or c["method"] == method]

    def clear_calls(self) -> None:
        self.log_path.unlink(missing_ok=True)

    def objects(self) -> dict:
        """The recorder's real objects by address."""
        if not self.objects_path.exists():
            return {}
        return json.loads(self.objects_path.read_text(encoding="utf-8"))["objects"]

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("FP_VAR_", "FLOWPLAN_RECORDER_"))}
        env.update({
            "PYTHONPATH": os.pathsep.join(filter(None, [str(SUPPORT),
                                                        env.get("PYTHONPATH", "")])),
            "FLOWPLAN_PROVIDER_PLUGINS": PLUGINS,
            "FLOWPLAN_RECORDER_LOG": str(self.log_path),
            "FLOWPLAN_RECORDER_DB": str(self.objects_path),
            "NO_COLOR": "1",
        })
        env.update(self.env)
        return env

    def command(self, *args: str) -> list[str]:
        return [*flowplan_command(), "-C", str(self.config), *args]


def write_and_apply(workspace: Workspace, config: str, name: str = "main.hcl",
                    env: dict[str, str] | None = None) -> Result:
    """Write a config file and apply it (`apply --auto-approve`), as a person does before
    `flowplan run`, which runs the applied definition; fails the test when apply fails."""
    import subprocess

    workspace.write(config, name)
    args = ("apply", "--auto-approve")
    completed = subprocess.run(workspace.command(*args), env={**workspace.base_env(),
                                                                **(env or {})},
                               capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL, cwd=workspace.root)
    result = Result(completed.returncode, completed.stdout, completed.stderr, args)
    assert result.code == 0 and "Traceback" not in result.stderr, str(result)
    return result


def applied_workspace(root: Path, config: str, env: dict[str, str] | None = None) -> Workspace:
    """A workspace under `root` in which `config` has been applied once; tests copy it with
    `copy_applied` rather than applying again."""
    import subprocess

    template = Workspace(root, root / "config", root / "recorder", env=dict(env or {}))
    template.config.mkdir()
    template.recorder.mkdir()
    template.write(config)
    completed = subprocess.run(template.command("apply", "--auto-approve"),
                               env=template.base_env(), capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return template


def copy_applied(workspace: Workspace, template: Workspace) -> Workspace:
    """Make `workspace` a copy of an applied template (config, state, store, recorded objects)."""
    shutil.rmtree(workspace.config)
    shutil.rmtree(workspace.recorder)
    shutil.copytree(template.config, workspace.config)
    shutil.copytree(template.recorder, workspace.recorder)
    workspace.clear_calls()
    workspace.env.update(template.env)
    return workspace


def assert_ok(result: Result) -> Result:
    assert result.code == 0, str(result)
    return result


def normalise_plan_text(text: str) -> str:
    """Take out what differs between runs: lineage, timestamps, hashes, temp paths."""
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?", "<time>",
                  text)
    text = re.sub(r"sha256:[0-9a-f]+:[0-9a-f]{64}", "<sensitive-digest>", text)
    text = re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", text)
    return text


def check_golden(name: str, actual: str) -> None:
    """Compare with tests/golden/NAME; FLOWPLAN_UPDATE_GOLDEN=1 rewrites the file instead."""
    path = GOLDEN / name
    if os.environ.get("FLOWPLAN_UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with FLOWPLAN_UPDATE_GOLDEN=1 and review it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (f"{name} differs from the golden file; if the change is right, "
                                "regenerate with FLOWPLAN_UPDATE_GOLDEN=1 and review the diff")

"""Runs as text: live progress of a run, the history table, a run's tree, log lines, and the same
data as JSON for scripts.

Progress comes as flowplan.executor.events; the rest from the run service's records and views
(flowplan.executor.service). `PlainProgress` prints one line per event (for pipes and CI logs);
`LiveProgress` keeps a stage/task/step tree with durations on a terminal and prints log lines
above it. Nothing here decides anything about runs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from flowplan.executor import events
from flowplan.values import is_sensitive_marker

STATUS_SYMBOLS = {
    "queued": "·", "running": "▶", "waiting": "⏸", "succeeded": "✓", "failed": "✗",
    "canceled": "⊘", "skipped": "↷", "interrupted": "!",
}
STATUS_STYLES = {
    "queued": "dim", "running": "cyan", "waiting": "yellow", "succeeded": "green",
    "failed": "red", "canceled": "magenta", "skipped": "dim", "interrupted": "red",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _status(value: Any) -> str:
    return getattr(value, "value", value) or ""


# -- progress ---------------------------------------------------------------------------------

class PlainProgress:
    """One line per event, for pipes: `[stage/task/step] ...`."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write

    def __call__(self, event: object) -> None:
        line = plain_event_line(event)
        if line is not None:
            self.write(line)


def plain_event_line(event: object) -> str | None:
    if isinstance(event, events.RunStarted):
        verb = "continues" if event.continued else "started"
        who = f", by {event.user}" if event.user else ""
        return f"==> {event.run} {verb} (trigger {event.trigger}{who})"
    if isinstance(event, events.SourceCheckedOut):
        branch = f" on {event.branch}" if event.branch else ""
        return (f"    checked out {event.short}{branch}: {event.message.splitlines()[0] if event.message else ''}"
                f" ({event.author})")
    if isinstance(event, events.StageStarted):
        return f"[{event.stage}] stage started"
    if isinstance(event, events.TaskStarted):
        attempt = f" (attempt {event.attempt})" if event.attempt > 1 else ""
        return f"[{event.stage}/{event.task}] task started{attempt}"
    if isinstance(event, events.StepStarted):
        return f"[{event.stage}/{event.task}/{event.step}] {event.type} step started"
    if isinstance(event, events.LogLines):
        prefix = f"[{event.stage}/{event.task}/{event.step}]"
        marker = "!" if event.stream == "stderr" else "|" if event.stream == "stdout" else "#"
        return "\n".join(f"{prefix} {marker} {text}" for text in event.lines)
    if isinstance(event, events.StepFinished):
        detail = _finish_detail(event.exit_code, event.error)
        return (f"[{event.stage}/{event.task}/{event.step}] {_status(event.status)} in "
                f"{duration(event.seconds)}{detail}")
    if isinstance(event, events.TaskFinished):
        note = " (failure allowed)" if event.failure_allowed else ""
        note += " (will retry)" if event.will_retry else ""
        return (f"[{event.stage}/{event.task}] task {_status(event.status)} in "
                f"{duration(event.seconds)}{note}")
    if isinstance(event, events.StageFinished):
        return f"[{event.stage}] stage {_status(event.status)} in {duration(event.seconds)}"
    if isinstance(event, events.RunWaiting):
        return waiting_text(event.run, event.gates, event.commands)
    if isinstance(event, events.RunFinished):
        error = f": {event.error}" if event.error else ""
        warnings = "".join(f"\n    warning: {w}" for w in event.warnings)
        return f"==> {event.run} {_status(event.status)} in {duration(event.seconds)}{error}{warnings}"
    return None


def _finish_detail(exit_code: int | None, error: str | None) -> str:
    parts = []
    if exit_code not in (None, 0) and not (error and f"exit code {exit_code}" in error):
        parts.append(f"exit code {exit_code}")
    if error:
        parts.append(error)
    return f" ({'; '.join(parts)})" if parts else ""


def waiting_text(run: str, gates: Iterable[Any], commands: Iterable[str]) -> str:
    lines = [f"==> {run} is waiting for a person:"]
    for gate in gates:
        where = "/".join(p for p in (gate.stage, gate.task, gate.step) if p)
        description = f": {gate.description}" if gate.description else ""
        if getattr(gate, "kind", "approval") == "pause":
            lines.append(f"    {where} paused{description} (anyone may resume it)")
            continue
        lines.append(f"    {where}{description} (who may decide: {gate.who})")
    commands = list(commands)
    if commands:
        lines.append("    To continue, run:")
        lines.extend(f"      {command}" for command in commands)
    return "\n".join(lines)


@dataclass
class _Node:
    status: str = "queued"
    started: float | None = None
    seconds: float | None = None
    note: str = ""
    children: dict[str, "_Node"] = field(default_factory=dict)


class LiveProgress:
    """A live stage/task/step tree on a terminal (rich), with log lines printed above it."""

    def __init__(self, console):
        from rich.live import Live

        self.console = console
        self.stages: dict[str, _Node] = {}
        self.title = ""
        self.footer = ""
        self.live = Live(console=console, refresh_per_second=8, transient=False,
                         get_renderable=self._render)

    def __enter__(self) -> "LiveProgress":
        self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        self.live.stop()

    def __call__(self, event: object) -> None:
        now = time.monotonic()
        if isinstance(event, events.RunStarted):
            self.title = f"{event.run} ({event.trigger})"
        elif isinstance(event, events.StageStarted):
            self._stage(event.stage).status, self._stage(event.stage).started = "running", now
        elif isinstance(event, events.TaskStarted):
            node = self._task(event.stage, event.task)
            node.status, node.started = "running", now
            node.note = f"attempt {event.attempt}" if event.attempt > 1 else ""
        elif isinstance(event, events.StepStarted):
            node = self._step(event.stage, event.task, event.step)
            node.status, node.started, node.note = "running", now, event.type
        elif isinstance(event, events.LogLines):
            from rich.text import Text

            prefix = f"{event.task}/{event.step} │ "
            for text in event.lines:
                self.console.print(Text(prefix, style="dim") + Text(text))
        elif isinstance(event, events.StepFinished):
            node = self._step(event.stage, event.task, event.step)
            node.status, node.seconds = _status(event.status), event.seconds
            node.note = _finish_detail(event.exit_code, event.error).strip(" ()")
            if node.status == "waiting":          # the task and its stage wait with the step
                self._task(event.stage, event.task).status = "waiting"
                self._stage(event.stage).status = "waiting"
        elif isinstance(event, events.TaskFinished):
            node = self._task(event.stage, event.task)
            node.status, node.seconds = _status(event.status), event.seconds
            if event.failure_allowed:
                node.note = "failure allowed"
        elif isinstance(event, events.StageFinished):
            node = self._stage(event.stage)
            node.status, node.seconds = _status(event.status), event.seconds
        elif isinstance(event, events.RunWaiting):
            self.footer = waiting_text(event.run, event.gates, event.commands)
        elif isinstance(event, events.RunFinished):
            error = f": {event.error}" if event.error else ""
            self.footer = f"{event.run} {_status(event.status)} in {duration(event.seconds)}{error}"
        self.live.refresh()

    def _stage(self, stage: str) -> _Node:
        return self.stages.setdefault(stage, _Node())

    def _task(self, stage: str, task: str) -> _Node:
        return self._stage(stage).children.setdefault(task, _Node())

    def _step(self, stage: str, task: str, step: str) -> _Node:
        return self._task(stage, task).children.setdefault(step, _Node())

    def _render(self):
        from rich.console import Group
        from rich.text import Text
        from rich.tree import Tree

        tree = Tree(Text(self.title or "run", style="bold"))
        now = time.monotonic()
        for name, stage in self.stages.items():
            branch = tree.add(_label(name, stage, now))
            for task_name, task in stage.children.items():
                task_branch = branch.add(_label(task_name, task, now))
                for step_name, step in task.children.items():
                    task_branch.add(_label(step_name, step, now))
        return Group(tree, Text(self.footer)) if self.footer else tree


def _label(name: str, node: _Node, now: float):
    from rich.text import Text

    seconds = node.seconds
    if seconds is None and node.started is not None and node.status == "running":
        seconds = now - node.started
    text = Text(f"{STATUS_SYMBOLS.get(node.status, '?')} ", style=STATUS_STYLES.get(node.status, ""))
    text.append(name)
    details = " ".join(p for p in (duration(seconds), node.note) if p)
    if details:
        text.append(f"  {details}", style="dim")
    return text


# -- history, tree, logs ----------------------------------------------------------------------

def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None:
        return None
    return ((end or datetime.now(timezone.utc)) - start).total_seconds()


def render_runs_table(runs: list) -> str:
    headers = ("RUN", "STATUS", "TRIGGER", "COMMIT", "WHO", "STARTED", "DURATION")
    rows = [(r.ref + ("*" if r.origin == "working_copy" else ""), r.status, r.trigger,
             r.commit_short or (r.commit or "")[:7], r.user or "",
             _when(r.started_at or r.created_at),
             duration(_seconds(r.started_at, r.finished_at))) for r in runs]
    if not rows:
        return "No runs yet. Start one with: flowplan run PIPELINE\n"
    widths = [max(len(h), *(len(str(row[i])) for row in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    if any(r.origin == "working_copy" for r in runs):
        lines.append("* ran the working copy (run --from-config), not the applied definition")
    return "\n".join(lines) + "\n"


def render_run_tree(tree) -> str:
    run = tree.run
    lines = [f"{run.ref}  {run.status}  trigger {run.trigger}"
             + (f"  by {run.user}" if run.user else "")
             + ("  (working copy, not applied)" if run.origin == "working_copy" else "")]
    if run.commit:
        branch = f" on {run.branch}" if run.branch else ""
        message = (run.commit_message or "").splitlines()[0] if run.commit_message else ""
        lines.append(f"  commit {run.commit_short or run.commit[:7]}{branch}: {message}")
    lines.append(f"  started {_when(run.started_at)}  duration "
                 f"{duration(_seconds(run.started_at, run.finished_at))}")
    if run.error:
        lines.append(f"  error: {run.error}")
    for stage in tree.stages:
        lines.append(f"{STATUS_SYMBOLS.get(_status(stage.status), '?')} {stage.name}  "
                     f"{_status(stage.status)}" + ("  (manual)" if stage.trigger == "manual" else ""))
        for view in stage.tasks:
            task = view.record
            extra = []
            if task.attempt > 1:
                extra.append(f"attempt {task.attempt}")
            if task.failure_allowed:
                extra.append("failure allowed")
            if task.skip_reason:
                extra.append(f"skipped: {task.skip_reason}")
            if task.error:
                extra.append(task.error)
            lines.append(f"  {STATUS_SYMBOLS.get(task.status, '?')} {task.task}  {task.status}  "
                         f"{duration(_seconds(task.started_at, task.finished_at))}"
                         + (f"  ({'; '.join(extra)})" if extra else ""))
            for step in view.steps:
                detail = _finish_detail(step.exit_code, step.error)
                lines.append(f"    {STATUS_SYMBOLS.get(step.status, '?')} {step.step}  "
                             f"{step.type}  {step.status}  "
                             f"{duration(_seconds(step.started_at, step.finished_at))}{detail}")
                lines.extend(summary_lines(getattr(step, "summary", None), indent="        "))
                lines.extend(deploy_host_lines(
                    [h for h in getattr(tree, "deploy_hosts", ()) if h.step_run_id == step.id],
                    indent="        "))
    for gate in tree.gates:
        where = "/".join(p for p in (gate.stage, gate.task, gate.step) if p)
        if getattr(gate, "kind", "approval") == "pause":
            lines.append(f"paused: {where}: {gate.description} (flowplan resume {run.ref})")
            continue
        lines.append(f"waiting: {where} (who may decide: {gate.who})")
    for approval in tree.approvals:
        where = "/".join(p for p in (approval.stage, approval.task, approval.step) if p)
        comment = f": {approval.comment}" if approval.comment else ""
        verb = {"approve": "approved", "reject": "rejected",
                "resume": "resumed"}.get(approval.decision, approval.decision)
        lines.append(f"{verb} by {approval.decided_by} at {_when(approval.at)} "
                     f"({where}){comment}")
    for artifact in tree.artifacts:
        lines.append(f"artifact {artifact.name}: {artifact.path} ({artifact.size} bytes, "
                     f"sha256 {artifact.sha256})")
    return "\n".join(lines) + "\n"


def deploy_host_lines(hosts: list, indent: str = "") -> list[str]:
    """A deploy step's hosts, a table: host, batch, status, exit code, duration, and what went
    wrong or a note (`succeeded in attempt 1`)."""
    if not hosts:
        return []
    rows = [(h.host, str(h.batch), h.status, "" if h.exit_code is None else str(h.exit_code),
             duration(h.seconds) if h.seconds is not None else "",
             h.error or (h.detail or {}).get("note") or "") for h in hosts]
    headers = ("host", "batch", "status", "exit", "time", "")
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(5)]

    def line(row) -> str:
        return (indent + "  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " +
                row[5]).rstrip()

    return [line(headers), *(line(row) for row in rows)]


def summary_lines(summary: Any, indent: str = "") -> list[str]:
    """A step summary (StepResult.summary as stored) as text: its title, then its lines."""
    if not isinstance(summary, dict):
        return []
    lines = [f"{indent}{summary['title']}"] if summary.get("title") else []
    lines.extend(f"{indent}  {line}" for line in summary.get("lines") or ())
    return lines


def render_role_members(role: str, members: list[str], grants: dict, where: str = "") -> str:
    """A role's members, one a line, each with who granted it (`grants`: the last grant
    ChangeRecord by member; none for a grant recorded before flowplan kept them); `where`
    (` in team NAME`) heads the list and ends the note of none."""
    if not members:
        return f"Role {role} has no members{where}.\n"
    width = max(len(member) for member in members)
    lines = [f"Role {role}{where}:"] if where else []
    for member in members:
        grant = grants.get(member)
        lines.append(member if grant is None else
                     f"{member.ljust(width)}  granted by {grant.changed_by} at {_when(grant.at)}")
    return "\n".join(lines) + "\n"


def render_secret_names(names: list[str], changes: dict, where: str = "") -> str:
    """Stored secrets' names (never values), each with who set it last (`changes`: the last
    ChangeRecord by name); `where` (` in team NAME`) heads the list and ends the note of
    none."""
    if not names:
        return f"No secrets{where}.\n"
    width = max(len(name) for name in names)
    lines = [f"Secrets{where}:"] if where else []
    for name in names:
        change = changes.get(name)
        lines.append(name if change is None else
                     f"{name.ljust(width)}  set by {change.changed_by} at {_when(change.at)}")
    return "\n".join(lines) + "\n"


def render_log_line(line) -> str:
    """`HH:MM:SS.mmm stage/task/step | text` (`!` for stderr, `#` for flowplan's own lines)."""
    stamp = datetime.fromtimestamp(line.at).strftime("%H:%M:%S.%f")[:-3]
    attempt = f" (attempt {line.attempt})" if getattr(line, "attempt", 1) > 1 else ""
    marker = "!" if line.stream == "stderr" else "|" if line.stream == "stdout" else "#"
    return f"{stamp} {line.stage}/{line.task}/{line.step}{attempt} {marker} {line.text}"


# -- JSON ---------------------------------------------------------------------------------------

def to_json(value: Any) -> str:
    return json.dumps(_plain(value), indent=2, ensure_ascii=False)


def _plain(value: Any) -> Any:
    from dataclasses import fields, is_dataclass
    from enum import Enum

    if is_sensitive_marker(value):
        return "***"                      # a run keeps a sensitive value's hash: never shown
    if is_dataclass(value) and not isinstance(value, type):
        # a run's definition snapshot is long: JSON names which definition it was instead
        return {f.name: (_plain(getattr(value, f.name)) if f.name != "definition"
                         else getattr(value, "origin", None)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value

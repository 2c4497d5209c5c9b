"""Where runs put their files and the limits they run under: `ExecutorSettings`.

Built from the `flowplan {}` block of a config (`workspace_dir`, `artifacts_dir`, `cache_dir`,
`parallelism`, `run_as`, `tools`, `executor`, `broker`, `heartbeat_interval`,
`heartbeat_timeout`; relative paths are taken from the config directory) or directly by tests
and benchmarks. Reading the config is the loader's job; this module only turns its settings into
paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_KILL_GRACE = 10.0


@dataclass(frozen=True)
class LogLimits:
    """What one step's log may hold in the store. Past either cap the log keeps its first part
    and its last `tail_lines` lines or `tail_bytes` bytes (at most half the cap), and one system
    line between them says how much was left out; what is left out is counted (step run
    `log_dropped`), not stored. The last part waits in memory until the step's process ends."""

    max_lines: int = 500_000
    max_bytes: int = 32 * 1024 * 1024
    max_line_bytes: int = 64 * 1024          # a longer line is stored as several
    tail_lines: int = 10_000
    tail_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class ExecutorSettings:
    base_dir: Path                           # the config directory
    workspace_dir: Path
    artifacts_dir: Path
    cache_dir: Path
    parallelism: int = 10                    # at most this many tasks of a run at once
    kill_grace: float = DEFAULT_KILL_GRACE   # seconds between SIGTERM and SIGKILL
    logs: LogLimits = field(default_factory=LogLimits)
    poll_interval: float = 0.25              # how often a driving process looks for cancel
    log_flush_interval: float = 0.1          # how long log lines may wait to be stored
    environ: Mapping[str, str] | None = None  # the base environment of steps (None: os.environ)
    run_as: str | None = None                # the system user steps run as (None: flowplan's)
    tools: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # kind: version: path
    executor: str = "local"                  # or "celery": tasks go to workers (distributed/)
    broker: str | None = None                # the celery executor's broker, redis://...
    heartbeat_interval: float = 1.0          # how often a worker says it still runs a task
    heartbeat_timeout: float = 10.0          # silence after which its task counts as lost

    @classmethod
    def from_config(cls, directory: Path | str, settings: Mapping[str, Any] | None = None,
                    **overrides: Any) -> ExecutorSettings:
        """Settings from a config's `flowplan {}` block (`Config.settings`)."""
        base = Path(directory).resolve()
        settings = settings or {}

        def path(key: str, default: str) -> Path:
            value = Path(settings.get(key) or default).expanduser()
            return value if value.is_absolute() else base / value

        values: dict[str, Any] = dict(
            base_dir=base,
            workspace_dir=path("workspace_dir", ".flowplan/workspaces"),
            artifacts_dir=path("artifacts_dir", ".flowplan/artifacts"),
            cache_dir=path("cache_dir", ".flowplan/caches"),
            parallelism=int(settings.get("parallelism") or 10),
            run_as=settings.get("run_as") or None,
            tools=_tools(settings.get("tools"), base),
            executor=settings.get("executor") or "local",
            broker=settings.get("broker") or None,
            heartbeat_interval=float(settings.get("heartbeat_interval") or 1.0),
            heartbeat_timeout=float(settings.get("heartbeat_timeout") or 10.0))
        values.update(overrides)
        return cls(**values)


def _tools(block: Any, base: Path) -> dict[str, dict[str, str]]:
    """The `tools {}` block as {kind: {version: absolute path}} (relative paths are taken from
    the config directory); a block given several times (a list) is merged."""
    blocks = block if isinstance(block, list) else [block] if block else []
    tools: dict[str, dict[str, str]] = {}
    for one in blocks:
        for kind, versions in (one or {}).items():
            for version, location in (versions or {}).items():
                path = Path(str(location)).expanduser()
                tools.setdefault(kind, {})[str(version)] = str(path if path.is_absolute()
                                                               else base / path)
    return tools

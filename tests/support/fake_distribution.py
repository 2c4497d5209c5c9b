"""A fake installed distribution: a `NAME-1.0.dist-info` directory with METADATA and
entry_points.txt, put on sys.path so importlib.metadata finds its entry points as it would a
real package's. For tests of plugins that are broken the way real ones break (a module that is
not there, an import that raises)."""

from __future__ import annotations

import sys
from pathlib import Path


def install(root: Path, name: str, entry_points: dict[str, dict[str, str]],
            modules: dict[str, str] | None = None) -> Path:
    """Write the distribution (and `modules`, by module name, as source files) under `root` and
    put `root` first on sys.path; the caller takes it off again (monkeypatch.syspath_prepend)."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
                                   encoding="utf-8")
    lines = []
    for group, points in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{point} = {target}" for point, target in points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for module, source in (modules or {}).items():
        (root / f"{module}.py").write_text(source, encoding="utf-8")
    return root


def forget_step_types() -> None:
    """Clear the step-type caches of the loader and the executor, so they look again."""
    from flowplan.config.steps import step_models
    from flowplan.executor import step_type

    step_models.cache_clear()
    step_type.step_type.cache_clear()
    step_type.step_types.cache_clear()
    for name in [m for m in sys.modules if m.startswith("flowplan_test_plugin")]:
        del sys.modules[name]

"""Fixtures for the config-language tests: write inline HCL into a temporary directory, load it.

The tests chdir into the directory, so diagnostics show short paths such as `main.hcl`. The
recorder provider (tests/support) stands in for the alicloud and github providers, so the
`acr_namespace`, `acr_repository` and `webhook` types these tests use are served.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from flowplan.config.loader import Config, load_config
from flowplan.providers import PLUGIN_ENVIRONMENT

SUPPORT = Path(__file__).resolve().parents[2] / "support"
RECORDER_PLUGINS = ("alicloud=recorder_provider:RecorderProvider,"
                    "github=recorder_provider:RecorderProvider")


@pytest.fixture(autouse=True)
def recorder_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SUPPORT))
    monkeypatch.setenv(PLUGIN_ENVIRONMENT, RECORDER_PLUGINS)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(SUPPORT), os.environ.get("PYTHONPATH", "")])))  # for `flowplan` runs


def write_files(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def load(config_dir: Path) -> Callable[..., Config]:
    """load("HCL") or load({"a.hcl": "...", "b.hcl": "..."}, variables=..., environ=...).

    Texts are dedented; the environment is empty unless `environ` is given.
    """

    def _load(files: str | dict[str, str], **kwargs) -> Config:
        write_files(config_dir, {"main.hcl": files} if isinstance(files, str) else files)
        kwargs.setdefault("environ", {})
        return load_config(config_dir, **kwargs)

    return _load


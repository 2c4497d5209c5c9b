"""A run's source: checked out once per run, copied into each task's workspace.

The first drive of a run checks the pipeline's `source` out into `<run dir>/.source` with
flowplan.executor.run.checkout (branch, tag or commit, depth, submodules, credentials) and records
the commit, its author and message on the run. Every task attempt then starts from a copy of that
checkout, so all tasks of a run build the same commit without cloning again. Credentials name a
variable of the run or, failing that, a store secret decrypted with FLOWPLAN_SECRET_KEY.

Git itself is checkout.py's business; recording in the store is the scheduler's.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flowplan.executor.run.environment import RunValues, env_text


class SourceError(Exception):
    """The source could not be checked out; the message says why."""


def credentials_for(name: str | None, values: RunValues, store: Any,
                    environ: Mapping[str, str]) -> str | None:
    """The secret text `credentials` names: a run variable, else a store secret."""
    if not name:
        return None
    if name in values.variables and values.variables[name] is not None:
        return env_text(values.variables[name])
    token = store.get_secret_token(name)
    if token is None:
        raise SourceError(f"source credentials {name!r} are neither a variable of the run nor a "
                          f"secret in the store")
    from flowplan.executor.secrets import SecretError, open_store_secrets

    try:
        return open_store_secrets({name: token}, environ)[name]
    except SecretError as exc:
        raise SourceError(f"credentials: {exc}") from None


def check_out(source: dict[str, Any], directory: Path, *, branch: str | None,
              commit: str | None, credentials: str | None,
              on_line: Callable[[str], None]) -> Any:
    """Check `source` out into `directory` (emptied first); the CheckoutResult."""
    from flowplan.executor.run.checkout import CheckoutError, checkout

    if directory.exists():
        shutil.rmtree(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        return checkout(source, directory, branch=branch, commit=commit,
                        credentials=credentials, on_line=on_line)
    except CheckoutError as exc:
        raise SourceError(str(exc)) from None


def copy_into(source_dir: Path, workspace: Path) -> None:
    """A task workspace's starting files: a copy of the run's checkout (symlinks kept)."""
    shutil.copytree(source_dir, workspace, symlinks=True, dirs_exist_ok=True)

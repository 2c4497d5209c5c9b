"""A run's sensitive variable values, handed to its celery workers through the store, encrypted.

The driver seals them (`seal`) before the run's tasks are sent: each value is written, as JSON,
into a flowplan.executor.secrets.SecretBox token made with the operator key, one store row per
variable (`run_secrets`); `unseal` on the worker opens them with the same key, which every
worker machine must have (`FLOWPLAN_SECRET_KEY_FILE`). The rows are deleted when the drive ends
(`forget`): a run that waits for a decision seals them again when it is continued, since
continuing asks for its sensitive values again. Nothing of them goes through the broker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flowplan.executor.secrets import SecretBox, SecretError


class RunSecretsError(Exception):
    """The run's sensitive values cannot be sealed or opened; the message says what to do."""


def seal(store: Any, run_id: int, values: Any, environ: Mapping[str, str] | None) -> bool:
    """Keep the sensitive values of `values` (a RunValues) for the run's workers; False when
    it has none (nothing was written, nothing to `forget`)."""
    names = [name for name in values.sensitive if values.variables.get(name) is not None]
    if not names:
        return False
    try:
        box = SecretBox.from_environment(environ)
    except SecretError as exc:
        raise RunSecretsError(
            f"the run's sensitive variables ({', '.join(sorted(names))}) reach celery workers "
            f"encrypted with the operator key, and there is none: {exc}") from None
    store.put_run_secrets(run_id, {name: box.encrypt(json.dumps(values.variables[name]))
                                   for name in names})
    return True


def unseal(store: Any, run_id: int, environ: Mapping[str, str] | None) -> dict[str, Any]:
    """The run's sensitive values, opened with this machine's operator key ({} when it has
    none stored)."""
    tokens = store.run_secret_tokens(run_id)
    if not tokens:
        return {}
    try:
        box = SecretBox.from_environment(environ)
        return {name: json.loads(box.decrypt(token)) for name, token in tokens.items()}
    except SecretError as exc:
        raise RunSecretsError(
            f"the run's sensitive variables ({', '.join(sorted(tokens))}) cannot be opened on "
            f"this worker: {exc} (every worker needs the driver's operator key)") from None


def forget(store: Any, run_id: int) -> None:
    store.delete_run_secrets(run_id)

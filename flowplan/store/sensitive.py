"""Sensitive values kept out of the free text the store records.

The executor tells the store every sensitive value it learns (`Store.mask_sensitive`: a run's
sensitive variables when a command resolves them, values derived from them and source
credentials when a drive resolves those). From then on, for the life of that Store object, every
error of a run, task or step, every step's outputs, commit message and approval comment is
masked (each value and its encoded forms become `***`, by
flowplan.executor.step_process.masking.Masker) in the store's recording calls themselves, before it
is written: no caller can forget it. A value of one run found in another run's text is masked there
too.

Log lines are masked earlier, by flowplan.executor.step_process.logs, where they are cut into lines;
which values are sensitive is the config's and the run's business.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from flowplan.executor.step_process.masking import Masker

TEXT_FIELDS = ("error", "commit_message", "comment")
DATA_FIELDS = ("outputs",)


class SensitiveText:
    """Mixed into Store: the values to mask and the masking of recorded fields."""

    def _init_sensitive(self) -> None:
        self._sensitive_values: set[str] = set()
        self._sensitive_lock = threading.Lock()
        self._masker: Masker | None = None

    def mask_sensitive(self, values: Iterable[str]) -> None:
        """Mask `values` in every text this Store records from now on."""
        fresh = {value for value in values if value}
        with self._sensitive_lock:
            if fresh <= self._sensitive_values:
                return
            self._sensitive_values |= fresh
            self._masker = Masker(self._sensitive_values)

    def _masked_text(self, text: str | None) -> str | None:
        masker = self._masker
        if masker is None or not isinstance(text, str):
            return text
        return masker.mask(text)

    def _masked_fields(self, fields: Mapping[str, Any]) -> Mapping[str, Any]:
        """`fields` with their free text masked (the same mapping when there is nothing to)."""
        masker = self._masker
        if masker is None:
            return fields
        changed: dict[str, Any] | None = None
        for name in TEXT_FIELDS:
            value = fields.get(name)
            if isinstance(value, str):
                changed = changed if changed is not None else dict(fields)
                changed[name] = masker.mask(value)
        for name in DATA_FIELDS:
            value = fields.get(name)
            if value is not None:
                changed = changed if changed is not None else dict(fields)
                changed[name] = masker.mask_value(value)
        return changed if changed is not None else fields

"""What the store accepts as a definition: plain JSON data, so that no Python object (and no
`Sensitive` value) can reach the database. Used by every gateway method that stores JSON.
"""

from __future__ import annotations

import math
from typing import Any


def require_json_data(value: Any, where: str) -> None:
    """Raise ValueError unless `value` is plain JSON data (dict with str keys, list, str, finite
    number, bool, None). The message names the path and the type, never the value."""
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:
        item, path = pending.pop()
        kind = type(item)
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str:
                    raise ValueError(f"{where} has a {type(key).__name__} key at {path or '.'}: "
                                     f"the store keeps JSON data only")
                pending.append((child, f"{path}.{key}"))
        elif kind is list:
            pending.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
        elif kind is float and not math.isfinite(item):
            raise ValueError(f"{where} holds a non-finite number at {path or '.'}: "
                             f"the store keeps JSON data only")
        elif kind not in (str, int, float, bool, type(None)):
            raise ValueError(f"{where} holds a {kind.__name__} at {path or '.'}: the store keeps "
                             f"JSON data only (sensitive values as $sensitive markers)")

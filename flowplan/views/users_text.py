"""Users and API tokens as text and JSON for `flowplan user list` and `flowplan token list`.

Only what may be shown: names, roles, when and by whom, a token's public id and description.
A record's hash is never rendered: the JSON forms name their fields instead of dumping records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _table(headers: Sequence[str], rows: list[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines) + "\n"


def render_users(users: Sequence[Any], roles: Mapping[str, list[str]],
                 teams: Mapping[str, list[str]] | None = None) -> str:
    """A table of users (UserRecords) with their roles (`roles`: role names by user) and the
    teams they are members of (`teams`: team names by user)."""
    if not users:
        return "No users. Add one with: flowplan user add NAME\n"
    teams = teams or {}
    rows = [(u.name, ", ".join(teams.get(u.name, [])) or "-",
             ", ".join(roles.get(u.name, [])) or "-", _when(u.created_at),
             u.created_by or "") for u in users]
    return _table(("USER", "TEAMS", "ROLES", "CREATED", "CREATED BY"), rows)


def users_json(users: Sequence[Any], roles: Mapping[str, list[str]],
               teams: Mapping[str, list[str]] | None = None) -> str:
    teams = teams or {}
    return json.dumps([{"name": u.name, "teams": teams.get(u.name, []),
                        "roles": roles.get(u.name, []),
                        "created_at": _iso(u.created_at), "created_by": u.created_by}
                       for u in users], indent=2, ensure_ascii=False)


def render_tokens(tokens: Sequence[Any]) -> str:
    """A table of API tokens (ApiTokenRecords): ids, never secrets."""
    if not tokens:
        return "No API tokens. Create one with: flowplan token create USER\n"
    rows = [(t.id, _holder(t), getattr(t, "description", "") or "", _when(t.created_at),
             _when(t.last_used_at) or "never") for t in tokens]
    return _table(("ID", "USER", "DESCRIPTION", "CREATED", "LAST USED"), rows)


def _holder(token: Any) -> str:
    """A user token's user, or `worker NAME` for a worker token (WorkerTokenRecord)."""
    worker = getattr(token, "worker", None)
    return f"worker {worker}" if worker is not None else token.user


def tokens_json(tokens: Sequence[Any]) -> str:
    return json.dumps([{"id": t.id, "user": getattr(t, "user", None),
                        "worker": getattr(t, "worker", None),
                        "description": getattr(t, "description", "") or "",
                        "created_at": _iso(t.created_at), "last_used_at": _iso(t.last_used_at)}
                       for t in tokens], indent=2, ensure_ascii=False)

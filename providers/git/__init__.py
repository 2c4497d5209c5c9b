"""The `git` provider: `webhook` resources as `post-receive` hooks installed into repositories on
this machine (`provider`, `hooks`), and the hook's sender (`post_receive`, standard library only,
run by git after a push).

Installed as flowplan_providers.git, found through the `git` entry point of `flowplan.providers`.
Nothing is imported here eagerly: the hook runs `python -m flowplan_providers.git.post_receive`
after every push and must start fast, without flowplan's own imports.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GitProvider"]


def __getattr__(name: str) -> Any:
    if name == "GitProvider":
        from flowplan_providers.git.provider import GitProvider

        return GitProvider
    raise AttributeError(name)

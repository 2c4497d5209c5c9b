"""Progress of apply and refresh as Terraform-style lines, e.g.
`pipeline.app: Creating...` and `pipeline.app: Creation complete after 0s [id=12]`, and the
warnings that come with them (a state lock taken over from a process that died, a provider's
warning while refreshing).

The events come from flowplan.events; this module only formats them.
"""

from __future__ import annotations

from flowplan.events import (ApplyFailed, ApplyFinished, ApplySkipped, ApplyStarted,
                             RefreshStarted, RefreshWarning, StateLockTakenOver,
                             StateLockWaiting)

_STARTED = {"create": "Creating...", "update": "Modifying...", "replace": "Replacing...",
            "delete": "Destroying..."}
_FINISHED = {"create": "Creation complete", "update": "Modifications complete",
             "replace": "Replacement complete", "delete": "Destruction complete"}


def render_event(event: object) -> str | None:
    """One line for an event, or None for events that print nothing."""
    if isinstance(event, RefreshStarted):
        return f"{event.address}: Refreshing state..."
    if isinstance(event, ApplyStarted):
        return f"{event.address}: {_STARTED.get(event.action, event.action)}"
    if isinstance(event, ApplyFinished):
        suffix = f" [id={event.id}]" if event.id else ""
        return (f"{event.address}: {_FINISHED.get(event.action, 'Complete')} after "
                f"{_duration(event.seconds)}{suffix}")
    if isinstance(event, ApplyFailed):
        return f"{event.address}: {event.action} failed: {event.error}"
    if isinstance(event, ApplySkipped):
        return f"{event.address}: skipped because {event.blocked_by} failed"
    if isinstance(event, StateLockTakenOver):
        return (f"Warning: took over the state lock left by {event.holder} ({event.operation} "
                f"since {event.created}, lock id {event.lock_id}): {event.reason}.")
    if isinstance(event, StateLockWaiting):
        return (f"Waiting up to {_duration(event.timeout)} for the state lock on {event.path}: "
                f"held by {event.holder} for {event.operation} since {event.created} (lock id "
                f"{event.lock_id})...")
    if isinstance(event, RefreshWarning):
        detail = f"\n    {event.detail}" if event.detail else ""
        return f"Warning: {event.address}: {event.summary}{detail}"
    return None


def is_warning(event: object) -> bool:
    """Whether `event` is a warning, shown even when progress is not."""
    return isinstance(event, (StateLockTakenOver, StateLockWaiting, RefreshWarning))


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s"

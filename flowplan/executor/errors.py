"""What the run service refuses, as exceptions whose message a person can act on.

The CLI prints `str(error)` and exits non-zero; the dashboard shows it. Failures of a run itself
(a step that exits 1, a checkout of a missing branch) are not exceptions: they are the run's
status and error text in the store.
"""

from __future__ import annotations


class RunServiceError(Exception):
    """Base: a request about runs that cannot be carried out, and why."""


class RunNotFound(RunServiceError):
    pass


class InvalidRunRef(RunServiceError):
    pass


class RunBusy(RunServiceError):
    """Another live process is driving the run."""


class NothingToContinue(RunServiceError):
    """The run is not in a state the request applies to (e.g. approve a run that waits for
    nobody, retry a run that succeeded)."""


class ApprovalRefused(RunServiceError):
    """The user may not decide on this gate; the message lists who may."""


class PathEscape(RunServiceError):
    """A name or path would put a file outside the directory it belongs in."""

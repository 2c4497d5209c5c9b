"""Progress lines and the warnings that come with them."""

from __future__ import annotations

from flowplan.events import ApplyStarted, RefreshStarted, RefreshWarning
from flowplan.views.progress_text import is_warning, render_event


def test_a_refresh_warning_is_shown_always_with_its_detail_indented():
    event = RefreshWarning("deployment_group.daily", "Host key of web1 changed",
                           "web1 (127.0.0.1:22) presents SHA256:new, but SHA256:old is pinned")
    assert is_warning(event)
    assert render_event(event) == (
        "Warning: deployment_group.daily: Host key of web1 changed\n"
        "    web1 (127.0.0.1:22) presents SHA256:new, but SHA256:old is pinned")
    assert render_event(RefreshWarning("a.b", "Odd")) == "Warning: a.b: Odd"


def test_progress_lines_are_not_warnings():
    assert not is_warning(RefreshStarted("pipeline.app"))
    assert not is_warning(ApplyStarted("pipeline.app", "create"))

"""Failures through the CLI: how a failed apply and a corrupt state are reported.

What a failed apply does (dependents skipped, finished resources kept in the state, the lock
released, the next apply finishing the job) and refresh are tested in-process in
tests/unit/engine/test_engine_refresh_and_failures.py. Here: the exit code, the diagnostics and
progress on stderr, and an error message instead of a traceback.
"""

from __future__ import annotations

from configs import TWO_NAMESPACES_AND_REPOSITORY


def test_failed_apply_exits_1_with_the_diagnostic_and_the_skipped_dependents_on_stderr(
        workspace, run_flowplan):
    workspace.write(TWO_NAMESPACES_AND_REPOSITORY)
    failed = run_flowplan("apply", "--auto-approve",
                          env={"FLOWPLAN_RECORDER_FAIL": "acr_namespace.team"})
    assert failed.code == 1, str(failed)
    assert "main.hcl:1:1: error: Failed to create acr_namespace.team" in failed.stderr
    assert "The recorder was told to fail acr_namespace.team" in failed.stderr
    assert "acr_repository.app: skipped because acr_namespace.team failed" in failed.stderr
    assert ("Error: 2 resource(s) failed: acr_namespace.team, acr_repository.app. What "
            "succeeded is in the state") in failed.stderr
    assert "Apply complete!" not in failed.stdout
    assert workspace.state_addresses() == ["acr_namespace.other"]
    assert not workspace.lock_path.exists(), "a failed apply must release the lock"


def test_corrupt_state_is_an_error_message_not_a_traceback(workspace, run_flowplan):
    workspace.write(TWO_NAMESPACES_AND_REPOSITORY)
    workspace.state_path.parent.mkdir()
    workspace.state_path.write_text("{ not json")
    for args in (("plan",), ("apply", "--auto-approve"), ("state", "list"), ("show",)):
        result = run_flowplan(*args)
        assert result.code == 1, str(result)
        assert "is not valid JSON" in result.stderr
        assert "state.json.backup" in result.stderr

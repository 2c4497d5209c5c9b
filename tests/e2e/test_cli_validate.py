"""`flowplan validate` runs what providers check offline, as `plan` does, without a state."""

from __future__ import annotations


def test_validate_reports_what_the_provider_finds_wrong_with_a_schedule(workspace, run_flowplan):
    workspace.write("""
        pipeline "app" {
        }

        schedule "nightly" {
          pipeline = pipeline.app
          cron     = "99 * * * *"
          timezone = "Mars/Olympus_Mons"
        }
    """)
    result = run_flowplan("validate")
    assert result.code == 1, str(result)
    assert "main.hcl:6:3: error: Invalid `cron`" in result.stderr
    assert "main.hcl:7:3: error: Invalid `timezone`" in result.stderr
    assert '    7 |   timezone = "Mars/Olympus_Mons"' in result.stderr
    assert result.stderr.rstrip().endswith("2 errors.")
    assert "Success" not in result.stdout
    assert not workspace.state_path.exists() and not workspace.store_path.exists()

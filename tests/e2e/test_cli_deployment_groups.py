"""`flowplan` with a deployment group of real sshd hosts: what only the command shows (the
refresh warning on stderr, the exit codes, `apply --replace` re-pinning a changed host key)."""

from __future__ import annotations

from cli_workspace import write_and_apply

GROUP = """
deployment_group "daily" {{
  environment = "daily"
  host "web" {{
    address  = "127.0.0.1"
    port     = {port}
    user     = "{user}"
    key_file = "{key}"
  }}
}}
"""


def test_a_changed_host_key_warns_and_apply_replace_pins_the_new_one(workspace, run_flowplan,
                                                                      fresh_host):
    config = GROUP.format(port=fresh_host.port, user=fresh_host.user, key=fresh_host.client_key)
    write_and_apply(workspace, config)
    pinned = fresh_host.host_key
    assert workspace.state()["resources"][0]["attributes"]["host_keys"] == {"web": pinned}
    presented = fresh_host.replace_host_key()

    planned = run_flowplan("plan", "--detailed-exitcode")
    assert planned.code == 2, planned
    assert "# deployment_group.daily must be replaced" in planned.stdout
    assert "# (replace because host_keys.web changed)" in planned.stdout
    assert "Warning: deployment_group.daily: Host key of web changed" in planned.stderr
    assert f"presents {presented}, but {pinned} is pinned" in planned.stderr

    unrefreshed = run_flowplan("plan", "--no-refresh", "--detailed-exitcode")
    assert unrefreshed.code == 0, unrefreshed           # without a refresh, nothing is seen

    repinned = run_flowplan("apply", "--auto-approve", "--no-refresh",
                            "--replace", "deployment_group.daily")
    assert repinned.code == 0, repinned
    assert "deployment_group.daily: Replacement complete" in repinned.output
    assert workspace.state()["resources"][0]["attributes"]["host_keys"] == {"web": presented}
    assert run_flowplan("plan", "--detailed-exitcode").code == 0

"""host_deploy through the run service in-process, against real sshd hosts and local hosts:
batches and pauses resumed, failures that stop later batches, retries that skip what was
deployed, timeouts, unreachable hosts and changed host keys, and refusals before any host is
touched."""

from __future__ import annotations

from deploy_support import (Status, applied, current_of, deploy_config, deploy_dir, deploy_log,
                            deploy_step, home_of, host_rows, hosts_of, local_host, local_users,
                            ssh_host, start)

__all__ = ["deploy_dir", "local_users"]       # fixtures


def test_a_paused_deploy_waits_after_the_first_batch_and_resume_deploys_the_rest(
        tmp_path, ssh_hosts, local_users, deploy_dir):
    web0, web1, _ = ssh_hosts
    hosts = [local_host("local0", local_users[0]), local_host("local1", local_users[1]),
             ssh_host(web0), ssh_host(web1)]
    service = applied(tmp_path, deploy_config(hosts, download_path=deploy_dir, batches=2,
                                              pause="first_batch"))
    outcome = start(service)
    assert outcome.status == Status.WAITING, outcome
    assert host_rows(service, outcome.run) == [
        ("local0", 1, "succeeded"), ("local1", 1, "succeeded"),
        (web0.name, 2, "queued"), (web1.name, 2, "queued")]
    log = deploy_log(service, outcome.run)
    assert f"paused after batch 1 of 2: flowplan resume {outcome.run}" in log
    assert any(line.startswith("[local0] deploying ") and "batch 1" in line for line in log)
    assert current_of(home_of(web0.user), deploy_dir) is None

    resumed = service.resume(outcome.run, user="ci")
    assert resumed.status == Status.SUCCEEDED, resumed
    assert [status for _h, _b, status in host_rows(service, outcome.run)] == ["succeeded"] * 4
    for user in (local_users[0], web0.user):
        current = current_of(home_of(user), deploy_dir)
        assert current is not None and (current / "dist" / "version").read_text() == "v1\n"
    log = deploy_log(service, outcome.run)
    assert f"[{web1.name}] v1" in log
    assert "deployed to 4 of 4 hosts in 2 batches" in log



def test_a_failing_host_stops_later_batches_and_retry_deploys_only_what_is_left(
        tmp_path, ssh_hosts, local_users, deploy_dir):
    web0, web1, web2 = ssh_hosts
    hosts = [local_host("local0", local_users[0]), ssh_host(web0), ssh_host(web1),
             ssh_host(web2)]
    script = 'if [ -e "$HOME/$MARK" ]; then echo "broken on $FLOWPLAN_HOST" >&2; exit 3; fi'
    marker = home_of(web0.user) / f"fail-{deploy_dir.rsplit('/', 1)[1]}"
    marker.write_text("")
    service = applied(tmp_path, deploy_config(hosts, download_path=deploy_dir, script=script,
                                              batches=2, env={"MARK": marker.name}))
    try:
        outcome = start(service)
    finally:
        marker.unlink()
    assert outcome.status == Status.FAILED
    assert host_rows(service, outcome.run) == [
        ("local0", 1, "succeeded"), (web0.name, 1, "failed"),
        (web1.name, 2, "queued"), (web2.name, 2, "queued")]
    step = deploy_step(service, outcome.run)
    assert step.error == (f"deploy failed on {web0.name} (the script exited with 3); 2 hosts "
                          f"not started ({web1.name}, {web2.name})")
    assert step.exit_code == 3
    assert step.summary["title"] == "deploy failed: deployed to 1 of 4 hosts in 2 batches"
    assert f"[{web0.name}] broken on {web0.name}" in deploy_log(service, outcome.run)
    assert current_of(home_of(web1.user), deploy_dir) is None

    retried = service.retry(outcome.run)
    assert retried.status == Status.SUCCEEDED, retried
    assert host_rows(service, outcome.run) == [
        ("local0", 1, "skipped"), (web0.name, 1, "succeeded"),
        (web1.name, 2, "succeeded"), (web2.name, 2, "succeeded")]
    records = {r.host: r for r in hosts_of(service, outcome.run).values()}
    assert records["local0"].detail["note"] == "succeeded in attempt 1"
    log = deploy_log(service, outcome.run)
    assert "[local0] skipped: succeeded in attempt 1" in log
    assert sum(line.startswith("[local0] deploying release") for line in log) == 1
    assert deploy_step(service, outcome.run).summary["title"] == \
        "deployed to 4 of 4 hosts in 2 batches"


def test_a_host_that_hangs_times_out_and_its_command_is_stopped(
        tmp_path, ssh_hosts, local_users, deploy_dir):
    web0 = ssh_hosts[0]
    hosts = [local_host("local0", local_users[0]), ssh_host(web0)]
    script = 'if [ "$FLOWPLAN_HOST" = "$HANG" ]; then sleep 60; fi'
    service = applied(tmp_path, deploy_config(hosts, download_path=deploy_dir, script=script,
                                              timeout="3s", env={"HANG": web0.name}))
    outcome = start(service)
    assert outcome.status == Status.FAILED
    assert host_rows(service, outcome.run) == [("local0", 1, "succeeded"),
                                               (web0.name, 1, "timed_out")]
    step = deploy_step(service, outcome.run)
    assert step.error == (f"deploy failed on {web0.name} (timed out: did not finish within its "
                          "timeout of 3 s); no host left to start")
    assert not sleeping(web0.user)


def sleeping(user: str) -> bool:
    import pwd
    from pathlib import Path

    uid = pwd.getpwnam(user).pw_uid
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid and \
                    b"sleep\x0060" in (entry / "cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def test_an_unreachable_host_fails_and_the_others_of_its_batch_deploy(
        tmp_path, ssh_hosts, fresh_host, deploy_dir):
    web0 = ssh_hosts[0]
    service = applied(tmp_path, deploy_config([ssh_host(web0), ssh_host(fresh_host, "gone")],
                                              download_path=deploy_dir))
    fresh_host.stop()
    outcome = start(service)
    assert outcome.status == Status.FAILED
    assert host_rows(service, outcome.run) == [("gone", 1, "failed"), (web0.name, 1,
                                                                      "succeeded")]
    step = deploy_step(service, outcome.run)
    assert step.error == "deploy failed on gone (connection refused); no host left to start"
    record = hosts_of(service, outcome.run)["gone"]
    assert record.error == f"gone (127.0.0.1:{fresh_host.port}): connection refused"
    assert record.detail["address"] == f"127.0.0.1:{fresh_host.port}"


def test_a_host_presenting_another_key_is_refused_naming_the_apply_that_pins_it(
        tmp_path, fresh_host, deploy_dir):
    service = applied(tmp_path, deploy_config([ssh_host(fresh_host, "web")],
                                              download_path=deploy_dir))
    pinned = fresh_host.host_key
    presented = fresh_host.replace_host_key()
    outcome = start(service)
    assert outcome.status == Status.FAILED
    record = hosts_of(service, outcome.run)["web"]
    assert record.status == "failed"
    assert record.error == (
        f"web (127.0.0.1:{fresh_host.port}): host key changed: pinned {pinned}, presented "
        f"{presented}; flowplan refuses the host until the new key is checked and pinned with "
        "`flowplan apply --replace deployment_group.web`")
    assert not (fresh_host.home / deploy_dir).exists()


def test_a_missing_artifact_fails_the_step_before_any_host_is_touched(
        tmp_path, ssh_hosts, deploy_dir):
    web0 = ssh_hosts[0]
    service = applied(tmp_path, deploy_config([ssh_host(web0)], download_path=deploy_dir,
                                              artifact="website"))
    connections = web0.connections()
    outcome = start(service)
    assert outcome.status == Status.FAILED
    assert deploy_step(service, outcome.run).error == (
        "this run has no artifact named 'website': an archive step with name = \"website\" "
        "must run before the deploy")
    assert hosts_of(service, outcome.run) == {}
    assert web0.connections() == connections


def test_a_download_path_the_user_cannot_write_fails_saying_so(tmp_path, ssh_hosts):
    web0 = ssh_hosts[0]
    service = applied(tmp_path, deploy_config([ssh_host(web0)], download_path="/root/app"))
    outcome = start(service)
    assert outcome.status == Status.FAILED
    record = hosts_of(service, outcome.run)[web0.name]
    release = record.detail.get("release")
    assert release is None
    assert record.error.startswith(f"{web0.name}: cannot create /root/app/releases/")
    assert record.error.endswith(f": Permission denied (download_path '/root/app', user "
                                 f"{web0.user})")


def test_parallel_1_deploys_one_host_at_a_time_and_none_after_a_failure(
        tmp_path, ssh_hosts, local_users, deploy_dir):
    web0 = ssh_hosts[0]
    hosts = [local_host("local0", local_users[0]), local_host("local1", local_users[1]),
             ssh_host(web0)]
    script = 'sleep 0.3; if [ "$FLOWPLAN_HOST" = local1 ]; then exit 5; fi'
    service = applied(tmp_path, deploy_config(hosts, download_path=f"~/{deploy_dir}",
                                              script=script, parallel=1))
    outcome = start(service)
    assert outcome.status == Status.FAILED
    assert host_rows(service, outcome.run) == [("local0", 1, "succeeded"),
                                               ("local1", 1, "failed"), (web0.name, 1, "queued")]
    records = hosts_of(service, outcome.run)
    assert records["local0"].finished_at <= records["local1"].started_at
    assert deploy_step(service, outcome.run).error == (
        f"deploy failed on local1 (the script exited with 5); 1 host not started ({web0.name})")
    assert current_of(home_of(local_users[0]), deploy_dir) is not None


def test_cancel_stops_the_hosts_being_deployed(tmp_path, ssh_hosts, local_users, deploy_dir):
    import threading
    import time

    web0 = ssh_hosts[0]
    hosts = [local_host("local0", local_users[0]), ssh_host(web0)]
    service = applied(tmp_path, deploy_config(hosts, download_path=deploy_dir,
                                              script="sleep 30"))
    outcomes = []
    thread = threading.Thread(target=lambda: outcomes.append(start(service)))
    thread.start()
    give_up = time.monotonic() + 20
    while time.monotonic() < give_up:
        runs = service.list_runs("app")
        if runs and any(line.endswith("sleep 30") or "deploying release" in line
                        for line in deploy_log(service, runs[0].ref)[-1:]):
            break
        time.sleep(0.1)
    time.sleep(0.5)
    service.cancel("app#1", user="ci")
    thread.join(30)
    assert outcomes and outcomes[0].status == Status.CANCELED
    assert {r.status for r in hosts_of(service, "app#1").values()} == {"canceled"}
    assert not sleeping_30(web0.user)


def sleeping_30(user: str) -> bool:
    import pwd
    from pathlib import Path

    uid = pwd.getpwnam(user).pw_uid
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid and \
                    b"sleep\x0030" in (entry / "cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False

"""What host_deploy leaves on hosts: archives checked before any host is touched, the script's
environment, health checks by URL and by command, rollbacks that find their release kept, and
old releases pruned."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deploy_support import (Status, applied, current_of, deploy_config, deploy_dir, deploy_log,
                            deploy_step, home_of, host_rows, hosts_of, local_host, local_users,
                            releases_of, ssh_host, start)

__all__ = ["deploy_dir", "local_users"]       # fixtures


# -- the archive ------------------------------------------------------------------------------------

def evil_archive(path, member: tarfile.TarInfo, data: bytes = b"") -> tuple[int, str]:
    with tarfile.open(path, "w:gz") as archive:
        good = tarfile.TarInfo("dist/version")
        good.size = 3
        archive.addfile(good, io.BytesIO(b"v1\n"))
        archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    content = path.read_bytes()
    return len(content), hashlib.sha256(content).hexdigest()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize("bad, named", [
    (member("../escape"), "'../escape'"),
    (member("/etc/flowplan-evil"), "'/etc/flowplan-evil'"),
    (member("dist/link", tarfile.SYMTYPE, "../../../../etc/passwd"), "'dist/link'"),
    (member("dist/pipe", tarfile.FIFOTYPE), "'dist/pipe', a device or pipe"),
])
def test_an_archive_with_a_member_leaving_the_release_is_refused_before_any_host_is_touched(
        tmp_path, ssh_hosts, deploy_dir, bad, named):
    web0 = ssh_hosts[0]
    service = applied(tmp_path / "config", deploy_config([ssh_host(web0)],
                                                         download_path=deploy_dir))
    definition = service.store.get_pipeline("app").definition
    definition = {**definition, "stages": {"deploy": definition["stages"]["deploy"]}}
    run = service.create("app", definition, user="ci")
    size, sha256 = evil_archive(tmp_path / "package.tgz", bad)
    service.store.put_artifact(run.id, "package", path=str(tmp_path / "package.tgz"), size=size,
                               sha256=sha256)
    connections = web0.connections()
    outcome = service.drive(run.ref)
    assert outcome.status == Status.FAILED
    error = deploy_step(service, run.ref).error
    assert error.startswith(f"the artifact 'package' holds {named}")
    assert error.endswith("; nothing was deployed")
    assert hosts_of(service, run.ref) == {}
    assert web0.connections() == connections


# -- the script's environment -----------------------------------------------------------------------

def test_the_script_gets_the_run_s_variables_the_step_env_and_the_host_vars_the_env_winning(
        tmp_path, ssh_hosts, local_users, deploy_dir):
    web0 = ssh_hosts[0]
    hosts = [ssh_host(web0, vars='{ ROLE = "primary", GREETING = "from the host" }'),
             local_host("local0", local_users[0])]
    script = ('echo "role=$${ROLE:-none} greeting=$GREETING stage=$STAGE group='
              '$FLOWPLAN_DEPLOYMENT_GROUP batch=$FLOWPLAN_BATCH pwd=$(pwd)"\n'
              'test "$FLOWPLAN_ARTIFACT" = "$FLOWPLAN_RELEASE_DIR/package.tgz"\n'
              'echo "run=$FLOWPLAN_PIPELINE#$FLOWPLAN_RUN_NUMBER"')
    service = applied(tmp_path, deploy_config(hosts, download_path=deploy_dir, script=script,
                                              batches=2, env={"GREETING": "hello"},
                                              variables={"STAGE": "daily"}))
    outcome = start(service)
    assert outcome.status == Status.SUCCEEDED, deploy_log(service, outcome.run)
    log = deploy_log(service, outcome.run)
    release = hosts_of(service, outcome.run)[web0.name].detail["release"]
    assert (f"[{web0.name}] role=primary greeting=hello stage=daily group=web batch=2 "
            f"pwd={release}") in log
    assert any(line.startswith("[local0] role=none greeting=hello stage=daily group=web "
                               "batch=1 pwd=/home/") for line in log)
    assert f"[{web0.name}] run=app#1" in log


# -- health checks ----------------------------------------------------------------------------------

class Health(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        Health.seen.append(self.path)
        self.send_response(200 if self.path.split("?")[0] == "/health" else 503)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    Health.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_health_check_url_is_fetched_from_each_host_before_current_moves(
        tmp_path, ssh_hosts, local_users, deploy_dir, health_server):
    web0 = ssh_hosts[0]
    hosts = [ssh_host(web0), local_host("local0", local_users[0])]
    service = applied(tmp_path, deploy_config(hosts, download_path=deploy_dir,
                                              health_check=f"{health_server}/health"))
    outcome = start(service)
    assert outcome.status == Status.SUCCEEDED, deploy_log(service, outcome.run)
    assert Health.seen == ["/health", "/health"]
    assert f"[{web0.name}] health check passed (attempt 1)" in deploy_log(service, outcome.run)


def test_a_health_check_url_names_each_hosts_own_values(tmp_path, ssh_hosts, local_users,
                                                        deploy_dir, health_server):
    web0 = ssh_hosts[0]
    hosts = [ssh_host(web0), local_host("local0", local_users[0])]
    url = f"{health_server}/health?host=$FLOWPLAN_HOST"        # $NAME: each host's own value
    service = applied(tmp_path, deploy_config(hosts, download_path=deploy_dir, health_check=url))
    outcome = start(service)
    assert outcome.status == Status.SUCCEEDED, deploy_log(service, outcome.run)
    assert sorted(Health.seen) == ["/health?host=local0", f"/health?host={web0.name}"]


def test_a_health_check_that_never_passes_fails_its_host_and_leaves_current_alone(
        tmp_path, ssh_hosts, local_users, deploy_dir):
    web0 = ssh_hosts[0]
    hosts = [ssh_host(web0), local_host("local0", local_users[0])]
    script = 'if [ "$FLOWPLAN_HOST" != local0 ]; then touch ready; fi'
    service = applied(tmp_path, deploy_config(hosts, download_path=deploy_dir, script=script,
                                              health_check="test -f ready",
                                              health_check_timeout="1s"))
    outcome = start(service)
    assert outcome.status == Status.FAILED
    assert host_rows(service, outcome.run) == [("local0", 1, "failed"),
                                               (web0.name, 1, "succeeded")]
    assert deploy_step(service, outcome.run).error == (
        "deploy failed on local0 (the health check (test -f ready) did not pass within 1 s); "
        "no host left to start")
    assert current_of(home_of(local_users[0]), deploy_dir) is None
    assert current_of(home_of(web0.user), deploy_dir) is not None


# -- rollback and pruning ---------------------------------------------------------------------------

def test_rollback_redeploys_an_earlier_run_s_artifact_from_its_kept_release(
        tmp_path, ssh_hosts, local_users, deploy_dir):
    web0 = ssh_hosts[0]
    hosts = [ssh_host(web0), local_host("local0", local_users[0])]
    service = applied(tmp_path, deploy_config(hosts, download_path=deploy_dir))
    first, second = start(service), start(service)
    assert (first.status, second.status) == (Status.SUCCEEDED, Status.SUCCEEDED)
    home = home_of(web0.user)
    assert (current_of(home, deploy_dir) / "dist" / "version").read_text() == "v2\n"

    rolled = service.rollback("app", first.run, user="ci")
    assert rolled.status == Status.SUCCEEDED, rolled
    assert service.get(rolled.run).trigger == "rollback"
    assert (current_of(home, deploy_dir) / "dist" / "version").read_text() == "v1\n"
    assert current_of(home, deploy_dir) == \
        current_of(home, deploy_dir).parent / hosts_of(service, first.run)[
            web0.name].detail["release"].rsplit("/", 1)[1]
    records = hosts_of(service, rolled.run)
    assert {r.detail["upload"] for r in records.values()} == {"skipped"}
    assert any(line.startswith(f"[{web0.name}] package.tgz is already in ") and
               line.endswith("(same sha256): upload skipped")
               for line in deploy_log(service, rolled.run))


def test_releases_beyond_keep_releases_are_removed_oldest_first(
        tmp_path, local_users, deploy_dir):
    service = applied(tmp_path, deploy_config([local_host("local0", local_users[0])],
                                              download_path=deploy_dir, keep_releases=2))
    outcomes = [start(service) for _ in range(3)]
    assert [o.status for o in outcomes] == [Status.SUCCEEDED] * 3
    release = [hosts_of(service, o.run)["local0"].detail["release"].rsplit("/", 1)[1]
               for o in outcomes]
    home = home_of(local_users[0])
    assert releases_of(home, deploy_dir) == sorted(release[1:])
    assert current_of(home, deploy_dir).name == release[2]
    assert f"[local0] removed release {release[0]}" in deploy_log(service, outcomes[2].run)
    owner = (home / deploy_dir / "releases" / release[2] / "dist" / "version").owner()
    assert owner == local_users[0]

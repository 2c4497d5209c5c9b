"""SshTransport against real sshd processes on 127.0.0.1 (tests/support/sshd.py): uploads with
their checksum, commands with variables, streamed output, exit codes, timeouts, cancel, sudo,
pinned host keys, credentials and connection reuse."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from flowplan_providers.flowplan.deploy.transport import (CommandCanceled, CommandTimedOut,
                                                          HostKeyChanged, HostUnreachable,
                                                          TransportError)
from flowplan_providers.ssh import SshTransport
from sshd import free_port, keygen, kill_processes_of


@pytest.fixture
def transport():
    made = SshTransport(connect_timeout=5, grace=1)
    yield made
    made.close()


@pytest.fixture
def web(ssh_hosts):
    return ssh_hosts[0]


class Output:
    """Collects what `run` streams, with the time each piece came."""

    def __init__(self):
        self.chunks: list[tuple[str, bytes, float]] = []

    def __call__(self, stream: str, data: bytes) -> None:
        self.chunks.append((stream, data, time.monotonic()))

    def text(self, stream: str = "stdout") -> str:
        return b"".join(d for s, d, _ in self.chunks if s == stream).decode()


def run(session, command, env=None, timeout=30.0, cancel=None, user=None):
    output = Output()
    code = session.run(command, env=env or {}, on_output=output, timeout=timeout,
                       cancel=cancel or threading.Event(), user=user)
    return code, output


def artifact(tmp_path: Path, size: int = 300_000) -> tuple[Path, str]:
    path = tmp_path / "package.tgz"
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def alive(session, pid: int) -> bool:
    """Whether process `pid` still runs on the host (a zombie does not count)."""
    code, output = run(session, f"ps -o stat= -p {pid}")
    return code == 0 and not output.text().strip().startswith("Z")


# -- upload -----------------------------------------------------------------------------------------

def test_upload_puts_the_file_under_the_login_home_and_checks_its_sha256(transport, web,
                                                                        tmp_path):
    local, digest = artifact(tmp_path)
    session = transport.connect(web.target())
    placed = session.upload(local, "app/release-1/package.tgz", digest)
    assert placed == f"{web.home}/app/release-1/package.tgz"
    code, output = run(session, "sha256sum app/release-1/package.tgz; ls -a app/release-1")
    assert code == 0
    assert output.text().split()[0] == digest
    assert output.text().split()[2:] == [".", "..", "package.tgz"]   # no temporary file left


def test_upload_replaces_an_existing_file_and_takes_absolute_paths(transport, web, tmp_path):
    session = transport.connect(web.target())
    first, first_digest = artifact(tmp_path, 1000)
    session.upload(first, f"{web.home}/replaced.bin", first_digest)
    second = tmp_path / "second.bin"
    second.write_bytes(b"second version")
    placed = session.upload(second, f"{web.home}/replaced.bin",
                            hashlib.sha256(b"second version").hexdigest())
    assert placed == f"{web.home}/replaced.bin"
    assert run(session, "cat replaced.bin")[1].text() == "second version"


def test_upload_with_a_wrong_checksum_fails_and_leaves_nothing(transport, web, tmp_path):
    local, _digest = artifact(tmp_path)
    session = transport.connect(web.target())
    with pytest.raises(TransportError) as failed:
        session.upload(local, "mismatch/package.tgz", "0" * 64)
    assert "checksum mismatch for mismatch/package.tgz" in str(failed.value)
    assert str(failed.value).startswith(f"{web.name} (127.0.0.1:{web.port}): ")
    assert run(session, "ls -A mismatch")[1].text() == ""


def test_upload_outside_what_the_user_may_write_fails_cleanly(transport, web, tmp_path):
    local, digest = artifact(tmp_path)
    session = transport.connect(web.target())
    with pytest.raises(TransportError) as failed:
        session.upload(local, "/etc/flowplan-test/package.tgz", digest)
    assert str(failed.value) == (f"{web.name} (127.0.0.1:{web.port}): cannot write "
                                 "/etc/flowplan-test/package.tgz: permission denied")
    assert not Path("/etc/flowplan-test").exists()


@pytest.mark.parametrize("remote", ["../escape.tgz", "app/../../escape.tgz", "app/\x00x"])
def test_upload_refuses_a_remote_path_leaving_its_directory_or_holding_nul(transport, web,
                                                                           tmp_path, remote):
    local, digest = artifact(tmp_path, 10)
    session = transport.connect(web.target())
    with pytest.raises(TransportError, match="`..`|NUL"):
        session.upload(local, remote, digest)


# -- run --------------------------------------------------------------------------------------------

def test_run_exports_variables_quoted_and_returns_the_exit_code(transport, web):
    session = transport.connect(web.target())
    tricky = "it's $HOME `id` \"quoted\"\nsecond line; exit 9"
    code, output = run(session, 'printf "%s|%s|%s" "$APP_PORT" "$TRICKY" "$(pwd)"; exit 7',
                       env={"APP_PORT": "8080", "TRICKY": tricky})
    assert code == 7
    assert output.text() == f"8080|{tricky}|{web.home}"


def test_the_host_s_vars_reach_the_command_and_env_wins_over_them(transport, web):
    session = transport.connect(web.target(vars={"APP_PORT": "8080", "ROLE": "web"}))
    code, output = run(session, 'echo "$APP_PORT $ROLE"', env={"ROLE": "canary"})
    assert (code, output.text()) == (0, "8080 canary\n")


def test_run_streams_stdout_and_stderr_as_they_come(transport, web):
    session = transport.connect(web.target())
    started = time.monotonic()
    code, output = run(session, "echo first; echo oops >&2; sleep 1.5; echo second")
    assert code == 0
    assert output.text() == "first\nsecond\n" and output.text("stderr") == "oops\n"
    first_at = next(at for stream, data, at in output.chunks if b"first" in data)
    assert first_at - started < 1.2, "the first line waited for the command to end"


def test_run_reports_a_command_killed_by_a_signal_as_128_plus_the_signal(transport, web):
    session = transport.connect(web.target())
    assert run(session, "kill -KILL $$")[0] == 137


def test_run_refuses_a_variable_name_that_is_not_one(transport, web):
    session = transport.connect(web.target())
    with pytest.raises(TransportError, match="not a valid environment variable name"):
        run(session, "true", env={"A;touch /tmp/pwned": "x"})


def test_timeout_stops_the_remote_command_and_what_it_started(transport, web):
    session = transport.connect(web.target())
    started = time.monotonic()
    with pytest.raises(CommandTimedOut) as stopped:
        run(session, "sleep 300 & echo $! > bg.pid; echo $$ > fg.pid; sleep 300", timeout=1.5)
    assert time.monotonic() - started < 8
    assert "did not finish within 1.5 s and was stopped" in str(stopped.value)
    for name in ("bg.pid", "fg.pid"):
        pid = int(run(session, f"cat {name}")[1].text())
        deadline = time.monotonic() + 5
        while alive(session, pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(session, pid), f"{name}: process {pid} still runs"


def test_cancel_stops_the_remote_command(transport, web):
    session = transport.connect(web.target())
    cancel = threading.Event()
    threading.Timer(0.8, cancel.set).start()
    with pytest.raises(CommandCanceled):
        run(session, "echo $$ > canceled.pid; sleep 300", cancel=cancel, timeout=None)
    pid = int(run(session, "cat canceled.pid")[1].text())
    deadline = time.monotonic() + 5
    while alive(session, pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(session, pid)


def test_a_chatty_login_shell_does_not_hide_the_command_from_its_stop(transport, fresh_host):
    bashrc = fresh_host.home / ".bashrc"
    bashrc.write_text('echo "welcome from .bashrc"\nprintf "no newline at the end"\n')
    session = transport.connect(fresh_host.target())
    code, output = run(session, "echo hello")
    assert code == 0
    assert output.text().endswith("hello\n")
    with pytest.raises(CommandTimedOut):
        run(session, "echo $$ > chatty.pid; sleep 300", timeout=1)
    pid = int(run(session, "cat chatty.pid")[1].text().rsplit("end", 1)[-1])
    deadline = time.monotonic() + 5
    while alive(session, pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(session, pid)


def test_a_failing_output_callback_stops_the_command_and_raises(transport, web):
    session = transport.connect(web.target())

    def broken(stream, data):
        raise RuntimeError("log is full")

    with pytest.raises(RuntimeError, match="log is full"):
        session.run("echo $$ > broken.pid; echo hello; sleep 300", env={}, on_output=broken,
                    timeout=30, cancel=threading.Event())
    pid = int(run(session, "cat broken.pid")[1].text())
    deadline = time.monotonic() + 5
    while alive(session, pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(session, pid)


def test_run_as_another_user_without_sudo_rights_is_refused(transport, web, ssh_fleet):
    other = ssh_fleet.add_user(f"fpssh{ssh_fleet.token}o", authorized=False)
    session = transport.connect(web.target())
    with pytest.raises(TransportError) as refused:
        run(session, "id -un", user=other)
    message = str(refused.value)
    assert message.startswith(f"{web.name} (127.0.0.1:{web.port}): cannot run as {other}: ")
    assert "sudo" in message


@pytest.mark.skipif(shutil.which("sudo") is None, reason="sudo is not installed")
def test_run_as_another_user_goes_through_sudo_and_is_stopped_through_it(transport, fresh_host,
                                                                         ssh_fleet):
    other = ssh_fleet.add_user(f"fpssh{ssh_fleet.token}s", authorized=False)
    rule = Path(f"/etc/sudoers.d/flowplan-test-{ssh_fleet.token}")
    rule.write_text(f"{fresh_host.user} ALL=({other}) NOPASSWD: ALL\n")
    rule.chmod(0o440)
    try:
        session = transport.connect(fresh_host.target())
        code, output = run(session, 'echo "$(id -un) $HOME $(pwd) $APP_PORT"', user=other,
                           env={"APP_PORT": "8080"})
        assert code == 0, output.text("stderr")
        assert output.text() == f"{other} /home/{other} /home/{other} 8080\n"
        with pytest.raises(CommandTimedOut):
            run(session, "echo $$ > sudo.pid; sleep 300", user=other, timeout=1.5)
        pid = int(run(session, "cat sudo.pid", user=other)[1].text())
        deadline = time.monotonic() + 5
        while alive(session, pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(session, pid)
    finally:
        rule.unlink()


# -- host keys --------------------------------------------------------------------------------------

def test_probe_learns_the_host_key_and_checks_the_user(transport, web):
    probe = transport.probe(web.target(host_key=None))
    assert (probe.reachable, probe.host_key, probe.user_exists, probe.problem) == (
        True, web.host_key, True, None)


def test_connect_refuses_a_host_without_a_pinned_key(transport, web):
    with pytest.raises(TransportError, match="no host key is pinned"):
        transport.connect(web.target(host_key=None))


def test_a_host_whose_key_changed_is_refused_naming_both_fingerprints(transport, fresh_host):
    pinned = fresh_host.host_key
    target = fresh_host.target()
    presented = fresh_host.replace_host_key()
    with pytest.raises(HostKeyChanged) as refused:
        transport.connect(target)
    assert (refused.value.expected, refused.value.presented) == (pinned, presented)
    assert str(refused.value).startswith(
        f"{fresh_host.name} (127.0.0.1:{fresh_host.port}): host key changed: pinned {pinned}, "
        f"presented {presented}")
    probe = transport.probe(target)
    assert (probe.reachable, probe.host_key, probe.user_exists) == (True, presented, None)
    assert "host key changed" in probe.problem


def test_a_changed_key_is_refused_before_logging_in(transport, fresh_host):
    target = fresh_host.target()
    fresh_host.replace_host_key()
    with pytest.raises(HostKeyChanged):
        transport.connect(target)
    assert "Accepted publickey" not in fresh_host.log.read_text()


def test_host_key_reads_the_key_without_logging_in(transport, web):
    probe = transport.host_key(web.target(host_key="SHA256:something-else"))
    assert (probe.reachable, probe.host_key) == (True, web.host_key)
    log = web.log.read_text()
    assert "Accepted publickey" not in log.split("Connection from")[-1]


# -- credentials ------------------------------------------------------------------------------------

def test_a_key_the_host_does_not_accept_is_refused(transport, web, tmp_path):
    stranger = keygen(tmp_path / "stranger")
    with pytest.raises(TransportError) as refused:
        transport.connect(web.target(key_file=str(stranger)))
    assert str(refused.value) == (
        f"{web.name} (127.0.0.1:{web.port}): authentication refused for user {web.user} "
        f"(key_file {stranger}; check that the user exists and accepts that key)")
    probe = transport.probe(web.target(key_file=str(stranger), host_key=None))
    assert (probe.reachable, probe.host_key) == (True, web.host_key)
    assert "authentication refused" in probe.problem


def test_private_key_text_logs_in_and_never_shows_in_a_message(transport, web):
    text = web.client_key.read_text()
    session = transport.connect(web.target(key_file=None, private_key=text))
    assert run(session, "id -un")[1].text() == f"{web.user}\n"
    with pytest.raises(TransportError) as refused:
        transport.connect(web.target(key_file=None, private_key=text[:-40] + "garbage\n"))
    assert "private_key is not a private key" in str(refused.value)
    assert text[40:80] not in str(refused.value)


def test_key_file_is_read_relative_to_the_working_dir(web, tmp_path):
    (tmp_path / "keys").mkdir()
    shutil.copy(web.client_key, tmp_path / "keys" / "deploy")
    with SshTransport(working_dir=tmp_path, connect_timeout=5) as transport:
        session = transport.connect(web.target(key_file="keys/deploy"))
        assert run(session, "true")[0] == 0
        with pytest.raises(TransportError, match=r"key_file .*keys/missing does not exist"):
            transport.connect(web.target(key_file="keys/missing"))


def test_without_a_key_the_ssh_agent_is_used(transport, web, tmp_path, monkeypatch):
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        subprocess.run(["ssh-add", "-q", str(web.client_key)], check=True,
                       env={**os.environ, "SSH_AUTH_SOCK": str(socket_path)},
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        monkeypatch.setenv("HOME", str(tmp_path))         # no default keys in ~/.ssh
        session = transport.connect(web.target(key_file=None))
        assert run(session, "id -un")[1].text() == f"{web.user}\n"
    finally:
        agent.terminate()
        agent.wait(5)


# -- reaching hosts ---------------------------------------------------------------------------------

def test_a_closed_port_is_unreachable_and_named(transport, web):
    port = free_port()
    target = web.target(port=port, host_key=None)
    probe = transport.probe(target)
    assert (probe.reachable, probe.problem) == (
        False, f"{web.name} (127.0.0.1:{port}): connection refused")
    with pytest.raises(HostUnreachable):
        transport.connect(web.target(port=port))


def test_one_connection_serves_probe_sessions_uploads_and_commands(web, tmp_path):
    local, digest = artifact(tmp_path, 1000)
    before = web.connections()
    with SshTransport(connect_timeout=5) as transport:
        transport.probe(web.target(host_key=None))
        first = transport.connect(web.target())
        first.upload(local, "reuse/a.bin", digest)
        run(first, "true")
        first.close()
        second = transport.connect(web.target())
        threads = [threading.Thread(target=run, args=(second, "sleep 0.3")) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        second.upload(local, "reuse/b.bin", digest)
        assert web.connections() - before == 1
    with pytest.raises(TransportError, match="session is closed"):
        first.upload(local, "reuse/c.bin", digest)


def test_many_hosts_at_once_from_many_threads(transport, ssh_hosts, tmp_path):
    local, digest = artifact(tmp_path, 2_000_000)
    results: dict[str, str] = {}

    def deploy(host):
        session = transport.connect(host.target())
        session.upload(local, "many/package.tgz", digest)
        code, output = run(session, "sha256sum many/package.tgz")
        results[host.name] = output.text().split()[0] if code == 0 else f"exit {code}"

    threads = [threading.Thread(target=deploy, args=(host,)) for host in ssh_hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {host.name: digest for host in ssh_hosts}


def test_a_connection_lost_is_found_again_on_the_next_use(transport, fresh_host):
    session = transport.connect(fresh_host.target())
    assert run(session, "true")[0] == 0
    kill_processes_of(pwd.getpwnam(fresh_host.user).pw_uid)     # its sshd session dies
    deadline = time.monotonic() + 5
    while True:
        try:
            assert run(session, "echo back")[1].text() == "back\n"
            break
        except TransportError:
            assert time.monotonic() < deadline, "the session did not connect again"
            time.sleep(0.1)

"""LocalTransport (`connection = "local"`): this machine, without SSH."""

from __future__ import annotations

import hashlib
import os
import pwd
import threading
import time
from pathlib import Path

import pytest

from flowplan_providers.flowplan.deploy.local import LocalTransport, current_user
from flowplan_providers.flowplan.deploy.transport import (CommandCanceled, CommandTimedOut,
                                                          Target, TransportError)

TARGET = Target(name="localhost", connection="local", user="")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def session():
    return LocalTransport(grace=1).connect(TARGET)


def run(session, command, env=None, timeout=30.0, cancel=None, user=None):
    chunks: list[tuple[str, bytes]] = []
    code = session.run(command, env=env or {}, on_output=lambda s, d: chunks.append((s, d)),
                       timeout=timeout, cancel=cancel or threading.Event(), user=user)
    text = {stream: b"".join(d for s, d in chunks if s == stream).decode()
            for stream in ("stdout", "stderr")}
    return code, text


def artifact(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "package.tgz"
    path.write_bytes(os.urandom(100_000))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_probe_finds_the_running_user_and_no_host_key():
    probe = LocalTransport().probe(TARGET)
    assert (probe.reachable, probe.host_key, probe.user_exists, probe.problem) == (
        True, None, True, None)
    missing = LocalTransport().probe(Target(name="localhost", connection="local",
                                            user="no-such-user-here"))
    assert (missing.user_exists, missing.problem) == (
        False, "user 'no-such-user-here' does not exist on this machine")


def test_upload_copies_under_home_and_checks_the_sha256(session, home, tmp_path):
    local, digest = artifact(tmp_path)
    placed = session.upload(local, "app/package.tgz", digest)
    assert placed == str(home / "app" / "package.tgz")
    assert hashlib.sha256(Path(placed).read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in (home / "app").iterdir()) == ["package.tgz"]


def test_upload_with_a_wrong_checksum_leaves_nothing(session, home, tmp_path):
    local, _ = artifact(tmp_path)
    with pytest.raises(TransportError, match="checksum mismatch"):
        session.upload(local, "app/package.tgz", "0" * 64)
    assert list((home / "app").iterdir()) == []


def test_upload_refuses_paths_climbing_out(session, home, tmp_path):
    local, digest = artifact(tmp_path)
    with pytest.raises(TransportError, match="`..`"):
        session.upload(local, "../outside.tgz", digest)
    assert not (home.parent / "outside.tgz").exists()


def test_upload_where_it_cannot_write_is_a_transport_error(session, home, tmp_path):
    local, digest = artifact(tmp_path)
    (home / "file").write_text("not a directory")
    with pytest.raises(TransportError, match=r"cannot write .*/file/package.tgz"):
        session.upload(local, "file/package.tgz", digest)


def test_run_has_a_login_environment_with_the_variables_only(session, home, monkeypatch):
    monkeypatch.setenv("FLOWPLAN_SECRET_KEY", "do-not-pass-this-on")
    code, text = run(session, 'echo "$APP_PORT|${FLOWPLAN_SECRET_KEY:-unset}|$(pwd)|$USER"; '
                              "exit 3", env={"APP_PORT": "8080"})
    me = pwd.getpwuid(os.geteuid())
    assert code == 3
    assert text["stdout"] == f"8080|unset|{me.pw_dir}|{me.pw_name}\n"


def test_the_host_s_vars_reach_the_command(home):
    session = LocalTransport().connect(Target(name="localhost", connection="local", user="",
                                              vars={"APP_PORT": "8080"}))
    assert run(session, 'echo "$APP_PORT"') == (0, {"stdout": "8080\n", "stderr": ""})


def test_timeout_and_cancel_stop_the_process_group(session, tmp_path):
    marker = tmp_path / "bg.pid"
    with pytest.raises(CommandTimedOut):
        run(session, f"sleep 300 & echo $! > {marker}; sleep 300", timeout=1)
    pid = int(marker.read_text())
    deadline = time.monotonic() + 5
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pid), f"the background sleep {pid} still runs"
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(CommandCanceled):
        run(session, "sleep 300", cancel=cancel)
    assert time.monotonic() - started < 5


@pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root here")
def test_run_as_another_user(session, ssh_fleet):
    other = ssh_fleet.add_user(f"fpssh{ssh_fleet.token}l", authorized=False)
    code, text = run(session, 'echo "$(id -un) $HOME $APP_PORT"', user=other,
                     env={"APP_PORT": "8080"})
    assert (code, text["stdout"]) == (0, f"{other} /home/{other} 8080\n")
    with pytest.raises(TransportError, match="user 'no-such-user-here' does not exist"):
        run(session, "true", user="no-such-user-here")


def test_connect_names_a_missing_user():
    with pytest.raises(TransportError, match="user 'no-such-user-here' does not exist"):
        LocalTransport().connect(Target(name="localhost", connection="local",
                                        user="no-such-user-here"))


def test_the_default_user_is_the_one_flowplan_runs_as():
    assert LocalTransport().connect(TARGET).user == current_user()

"""`run_as`: steps run as another system user, who reaches its own workspace and home and none of
flowplan's files (store, state, key file, other runs' workspaces, artifacts, caches); artifacts
and caches still work; a flowplan that is not root, an unknown user or a closed way to the
workspaces is refused before anything is recorded.

The tests that run steps need root: they create the system user `flowplan-step` (once; later
sessions reuse it) and a config directory others may pass through (pytest's tmp_path is under a
0700 directory).
"""

from __future__ import annotations

import gzip
import os
import pwd
import shutil
import stat
import subprocess
import tarfile
import tempfile
import uuid
from pathlib import Path

import pytest
from conftest import command, log_text, make_service, one_step, pipeline, stage, steps_of, task

from flowplan.executor import process
from flowplan.executor.secrets import KEY_FILE_VARIABLE
from flowplan.executor.settings import ExecutorSettings
from flowplan.executor.status import Status
from flowplan.executor.step_process import step_user
from flowplan.executor.step_process.step_user import RunAsRefused
from flowplan.state.local import LocalStateBackend
from flowplan.state.model import State

from run_as_account import STEP_USER, step_account  # noqa: E402
KEY = "operator-key-for-run-as-tests"


@pytest.fixture(scope="session")
def account() -> pwd.struct_passwd:
    return step_account()


@pytest.fixture
def open_dir():
    """A config directory whose parents the step user may pass through."""
    directory = Path(tempfile.mkdtemp(prefix="flowplan-run-as-"))
    directory.chmod(0o711)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def key_file(open_dir, monkeypatch) -> Path:
    path = open_dir / "secret.key"
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(path))
    return path


@pytest.fixture
def as_user(account, open_dir, key_file):
    service = make_service(open_dir, run_as=STEP_USER)
    yield service
    service.store.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=["setpriv", "subprocess"])
def mechanism(request, monkeypatch):
    """Both ways of changing user: setpriv, and subprocess's user/group where it is missing."""
    if request.param == "subprocess":
        monkeypatch.setattr(process, "setpriv_path", lambda: None)
    elif process.setpriv_path() is None:
        pytest.skip("no setpriv on this machine")
    return request.param


def test_steps_run_as_the_user_with_its_own_home_in_a_directory_it_owns(as_user, account,
                                                                        mechanism):
    script = ("id -un; id -Gn; echo HOME=$HOME USER=$USER LOGNAME=$LOGNAME; "
              "stat -c '%U %a' .; touch made-here; echo ~/; "
              "awk '/^(Uid|Gid|CapEff):/ {$1=$1; print}' /proc/self/status")
    outcome = as_user.start("app", one_step(script))
    assert outcome.status == Status.SUCCEEDED, outcome.error
    group = subprocess.run(["id", "-gn", STEP_USER], capture_output=True, text=True).stdout.strip()
    assert log_text(as_user, "app#1") == [
        STEP_USER, group, f"HOME={account.pw_dir} USER={STEP_USER} LOGNAME={STEP_USER}",
        f"{STEP_USER} 700", f"{account.pw_dir}/",
        "Uid: {0} {0} {0} {0}".format(account.pw_uid),
        "Gid: {0} {0} {0} {0}".format(account.pw_gid),
        "CapEff: 0000000000000000"]


def test_a_step_as_the_user_reaches_none_of_flowplans_files(as_user, open_dir, key_file):
    flowplan_dir = open_dir / ".flowplan"
    LocalStateBackend(flowplan_dir / "state.json").write(State())
    assert as_user.start("app", one_step("echo first > result")).status == Status.SUCCEEDED
    earlier = flowplan_dir / "workspaces" / "app" / "1" / "main" / "t"
    assert (earlier / "result").read_text() == "first\n"
    targets = {
        "store": f"cat {flowplan_dir / 'flowplan.db'}",
        "state": f"cat {flowplan_dir / 'state.json'}",
        "key file": f"cat {key_file}",
        "driver environment": "cat /proc/$PPID/environ",
        "another run": f"ls {earlier}",
        "a file of another run": f"cat {earlier / 'result'}",
        "flowplan dir": f"ls {flowplan_dir}",
        "workspaces": f"ls {flowplan_dir / 'workspaces'}",
        "artifacts": f"ls {flowplan_dir / 'artifacts'}",
        "caches": f"ls {flowplan_dir / 'caches'}",
    }
    script = "\n".join(f"{check} >/dev/null 2>&1 && echo '{name}: read' || echo '{name}: denied'"
                       for name, check in targets.items())
    script += f"\n{targets['store']} 2>&1 | sed 's/.*: //'"
    outcome = as_user.start("app", one_step(script))
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert log_text(as_user, "app#2") == [f"{name}: denied" for name in targets] + [
        "Permission denied"]
    assert KEY not in "\n".join(log_text(as_user, "app#2"))


def test_directories_on_the_way_are_passable_only_and_the_run_closes_after_its_drive(
        as_user, open_dir):
    flowplan_dir = open_dir / ".flowplan"
    script = "stat -c %a .. ../.. ../../.. ../../../.. ../../../../.."
    assert as_user.start("app", one_step(script)).status == Status.SUCCEEDED
    # stage, run, pipeline, workspaces, .flowplan: passable only while the run is driven
    assert log_text(as_user, "app#1") == ["711"] * 5
    run_dir = flowplan_dir / "workspaces" / "app" / "1"
    assert mode(run_dir) == 0o700 and run_dir.stat().st_uid == 0
    assert mode(run_dir.parent) == 0o711
    assert mode(flowplan_dir / "artifacts") == 0o700
    assert mode(flowplan_dir / "caches") == 0o700
    assert mode(flowplan_dir / "flowplan.db") == 0o600


def cached_and_archived(home_dir: str) -> dict:
    script = ("if [ -f deps/lib.txt ]; then echo hit $(cat deps/lib.txt) $(cat ~/HOME_DIR/m2.txt);"
              " stat -c %U deps/lib.txt ~/HOME_DIR/m2.txt;"
              " else mkdir -p deps ~/HOME_DIR; echo v-$FLOWPLAN_RUN_NUMBER > deps/lib.txt;"
              " echo m2-$FLOWPLAN_RUN_NUMBER > ~/HOME_DIR/m2.txt; echo miss; fi;"
              " mkdir -p target; echo jar > target/app.jar").replace("HOME_DIR", home_dir)
    return pipeline({"s": stage({"t": task(
        ("build", command(script)),
        ("pack", {"type": "archive", "name": "package", "paths": ["target/*.jar"]}))})},
        caches={"deps": {"key": "deps-1", "restore_keys": [],
                         "paths": ["deps", f"~/{home_dir}"]}})


def test_artifacts_and_caches_work_as_the_user(as_user, account, open_dir, mechanism):
    home_dir = f".flowplan-test-{uuid.uuid4().hex[:8]}"
    try:
        first = as_user.start("app", cached_and_archived(home_dir))
        assert first.status == Status.SUCCEEDED, first.error
        assert log_text(as_user, "app#1", step="build") == [
            "cache deps: no entry for key deps-1", "miss"]
        assert log_text(as_user, "app#1", step="pack")[-1] == "cache deps: saved under key deps-1"
        (artifact,) = as_user.store.artifacts(as_user.get("app#1").id)
        with tarfile.open(artifact.path) as tar:
            assert tar.getnames() == ["target/app.jar"]
        assert Path(artifact.path).stat().st_uid == 0
        (entry,) = [p for p in (open_dir / ".flowplan" / "caches").rglob("*.tgz")]
        assert entry.stat().st_uid == 0
        shutil.rmtree(Path(account.pw_dir) / home_dir)

        second = as_user.start("app", cached_and_archived(home_dir))
        assert second.status == Status.SUCCEEDED, second.error
        assert log_text(as_user, "app#2", step="build") == [
            "cache deps: restored from key deps-1", "hit v-1 m2-1", STEP_USER, STEP_USER]
    finally:
        shutil.rmtree(Path(account.pw_dir) / home_dir, ignore_errors=True)


def test_file_work_as_the_user_cannot_read_what_the_user_cannot(account, open_dir):
    # What a step's processes could do between flowplan's checks and its file work: swap a cached
    # directory for a link to flowplan's files. The child doing the work runs as the user.
    workspace, private = open_dir / "ws", open_dir / "private"
    workspace.mkdir()
    private.mkdir(mode=0o711)
    (private / "data").write_text("flowplan's secret")
    (private / "data").chmod(0o600)
    (workspace / "deps").symlink_to(private)
    user = step_user.step_user(ExecutorSettings.from_config(open_dir, {}, run_as=STEP_USER))
    step_user.give(workspace, user)
    with tempfile.TemporaryFile() as out:
        code, said = step_user.file_work(user, "save", [str(workspace), str(user.home),
                                                        "workspace/deps/data"],
                                         cwd=workspace, stdout=out)
        out.seek(0)
        archive = out.read()
    assert code != 0 and "Permission denied" in said, (code, said)
    assert b"secret" not in (gzip.decompress(archive) if archive else b"")


def test_an_archive_step_refuses_paths_leaving_the_workspace_as_the_user(as_user):
    definition = pipeline({"s": stage({"t": task(
        ("make", command("ln -s /etc/passwd link")),
        ("pack", {"type": "archive", "name": "x", "paths": ["link"]}))})})
    assert as_user.start("app", definition).status == Status.FAILED
    assert steps_of(as_user, "app#1")[("t", "pack")].error.startswith(
        "archive path 'link' escapes ")


def test_outputs_and_long_scripts_work_as_the_user(as_user):
    long_script = "true\n" * 30_000 + 'echo "answer=42" >> "$FLOWPLAN_OUTPUT"; id -un'
    definition = pipeline({"s": stage({"t": task(("long", command(long_script)))})})
    assert as_user.start("app", definition).status == Status.SUCCEEDED
    assert steps_of(as_user, "app#1")[("t", "long")].outputs == {"answer": "42"}
    assert log_text(as_user, "app#1") == [STEP_USER]


# -- refusals (no root needed) ---------------------------------------------------------------


def test_run_as_is_refused_clearly_when_flowplan_is_not_root(config_dir, monkeypatch):
    service = make_service(config_dir, run_as="nobody")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(RunAsRefused) as error:
        service.start("app", one_step("id -un"))
    assert str(error.value).startswith(
        'run_as = "nobody": steps can only run as another user when flowplan runs as root, and '
        "it runs as ")
    assert str(error.value).endswith("run flowplan as root, or remove run_as from the "
                                     "flowplan {} block")
    assert service.list_runs() == []


def test_run_as_an_unknown_user_is_refused_before_the_run_starts(account, open_dir):
    service = make_service(open_dir, run_as="no-such-user-here")
    with pytest.raises(RunAsRefused) as error:
        service.start("app", one_step("true"))
    assert str(error.value) == (
        'run_as = "no-such-user-here": there is no user \'no-such-user-here\' on this machine: '
        "create it (e.g. `useradd --create-home no-such-user-here`), or fix the name")
    assert service.list_runs() == []


def test_run_as_root_is_refused(account, open_dir):
    service = make_service(open_dir, run_as="root")
    with pytest.raises(RunAsRefused, match="that user is root"):
        service.start("app", one_step("true"))


def test_run_as_is_refused_when_the_user_cannot_reach_the_workspaces(account, config_dir):
    closed = next(p for p in reversed(config_dir.parents) if mode(p) & 0o001 == 0)
    service = make_service(config_dir, run_as=STEP_USER)
    with pytest.raises(RunAsRefused) as error:
        service.start("app", one_step("true"))
    assert f"{STEP_USER} cannot pass through {closed} on the way to the workspaces" \
        in str(error.value)


def test_continuing_a_run_is_refused_too_before_anything_is_recorded(as_user, monkeypatch):
    outcome = as_user.start("app", one_step("exit 1"))
    assert outcome.status == Status.FAILED
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(RunAsRefused):
        as_user.retry("app#1")
    assert as_user.get("app#1").status == Status.FAILED


def test_without_run_as_the_way_to_a_task_is_passable_only_too(service, config_dir):
    script = "stat -c %a .. ../.. ../../.. ../../../.. ../../../../.."
    assert service.start("app", one_step(script)).status == Status.SUCCEEDED
    assert log_text(service, "app#1") == ["711"] * 5
    flowplan_dir = config_dir / ".flowplan"
    assert mode(flowplan_dir / "artifacts") == 0o700 and mode(flowplan_dir / "caches") == 0o700
    assert mode(flowplan_dir / "flowplan.db") == 0o600


def test_download_artifact_unpacks_and_copies_as_the_user(as_user, account):
    definition = pipeline({
        "build": stage({"package": task(
            ("make", command("mkdir -p target; echo jar > target/app.jar")),
            ("pack", {"type": "archive", "name": "package", "paths": ["target/*.jar"]}))}),
        "deploy": stage({"hosts": task(
            ("fetch", {"type": "download_artifact", "name": "package", "path": "release",
                       "extract": True}),
            ("copy", {"type": "download_artifact", "name": "package", "path": "in",
                      "extract": False}),
            ("look", command("cat release/target/app.jar; stat -c %U release/target/app.jar "
                             "in/package.tgz")))})})
    outcome = as_user.start("app", definition)
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert log_text(as_user, "app#1", step="look") == ["jar", STEP_USER, STEP_USER]

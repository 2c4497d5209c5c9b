"""archive steps (artifacts with checksums, paths kept inside the workspace) and caches
(restore by key or restore-key prefix, save on a miss), against real files and the store."""

from __future__ import annotations

import hashlib
import tarfile

import pytest

from conftest import command, log_text, pipeline, stage, steps_of, task

from flowplan.executor.status import Status


def archive(name: str, *paths: str) -> dict:
    return {"type": "archive", "name": name, "paths": list(paths)}


def packaging(*archive_paths: str, prepare: str = "mkdir -p target; echo jar > target/app.jar; "
                                                 "echo '#!/bin/sh' > deploy.sh") -> dict:
    return pipeline({"build": stage({"package": task(
        ("make", command(prepare)), ("pack", archive("package", *archive_paths)))})})


def test_archive_writes_a_tgz_and_records_its_checksum(service, config_dir):
    outcome = service.start("app", packaging("target/*.jar", "deploy.sh"))
    assert outcome.status == Status.SUCCEEDED, outcome.error
    (artifact,) = service.store.artifacts(service.get("app#1").id)
    path = config_dir / ".flowplan" / "artifacts" / "app" / "1" / "package.tgz"
    assert artifact.path == str(path) and artifact.name == "package"
    data = path.read_bytes()
    assert artifact.sha256 == hashlib.sha256(data).hexdigest()
    assert artifact.size == len(data)
    with tarfile.open(path) as tar:
        assert sorted(tar.getnames()) == ["deploy.sh", "target/app.jar"]
    assert log_text(service, "app#1", step="pack")[0].startswith(
        "archived 2 paths into package.tgz")


def test_archive_path_climbing_out_of_the_workspace_is_refused(service, tmp_path):
    (tmp_path / "secret.txt").write_text("outside")
    outcome = service.start("app", packaging("../../../../secret.txt"))
    assert outcome.status == Status.FAILED
    assert "escapes" in steps_of(service, "app#1")[("package", "pack")].error
    assert service.store.artifacts(service.get("app#1").id) == []


def test_archive_of_a_symlink_leading_outside_is_refused(service, tmp_path):
    (tmp_path / "secret.txt").write_text("outside")
    outcome = service.start("app", packaging("link", prepare=f"ln -s {tmp_path}/secret.txt link"))
    assert outcome.status == Status.FAILED
    assert "escapes" in steps_of(service, "app#1")[("package", "pack")].error


def test_absolute_archive_path_is_refused(service):
    outcome = service.start("app", packaging("/etc/passwd"))
    assert outcome.status == Status.FAILED
    assert "must be relative" in steps_of(service, "app#1")[("package", "pack")].error


def test_archive_pattern_matching_nothing_fails(service):
    outcome = service.start("app", packaging("dist/*.zip"))
    assert outcome.status == Status.FAILED
    assert "matches nothing" in steps_of(service, "app#1")[("package", "pack")].error


def cached(key: str, restore_keys: list[str] | None = None) -> dict:
    script = ("if [ -f deps/lib.txt ]; then echo hit $(cat deps/lib.txt); "
              "else mkdir -p deps; echo v-$FLOWPLAN_RUN_NUMBER > deps/lib.txt; echo miss; fi")
    return pipeline({"s": stage({"t": task(("build", command(script)))})},
                    caches={"deps": {"key": key, "restore_keys": restore_keys or [],
                                     "paths": ["deps"]}})


def test_cache_is_saved_on_a_miss_and_restored_by_exact_key(service, config_dir):
    assert service.start("app", cached("deps-1")).status == Status.SUCCEEDED
    assert log_text(service, "app#1", step="build") == [
        "cache deps: no entry for key deps-1", "miss", "cache deps: saved under key deps-1"]
    assert service.start("app", cached("deps-1")).status == Status.SUCCEEDED
    assert log_text(service, "app#2", step="build") == [
        "cache deps: restored from key deps-1", "hit v-1"]
    entry = service.store.find_cache_entry("app", "deps", "deps-1")
    assert entry.path.startswith(str(config_dir / ".flowplan" / "caches" / "app" / "deps"))


def test_cache_falls_back_to_the_newest_restore_key_match_then_saves_the_new_key(service):
    service.start("app", cached("deps-1"))
    service.start("app", cached("deps-2", ["deps-"]))
    assert log_text(service, "app#2", step="build") == [
        "cache deps: restored from key deps-1 (restore key)", "hit v-1",
        "cache deps: saved under key deps-2"]
    assert service.store.find_cache_entry("app", "deps", "deps-2") is not None


def test_cache_is_not_saved_when_the_task_fails(service):
    definition = cached("deps-1")
    definition["stages"]["s"]["tasks"]["t"]["steps"]["build"]["run"] += "; exit 1"
    service.start("app", definition)
    assert service.store.find_cache_entry("app", "deps", "deps-1") is None


def test_damaged_cache_archive_is_a_miss(service):
    service.start("app", cached("deps-1"))
    entry = service.store.find_cache_entry("app", "deps", "deps-1")
    with open(entry.path, "ab") as archive_file:
        archive_file.write(b"garbage")
    service.start("app", cached("deps-1"))
    assert log_text(service, "app#2", step="build")[:2] == [
        "cache deps: no entry for key deps-1", "miss"]


def test_cache_path_climbing_out_of_the_workspace_fails_the_task(service):
    definition = cached("deps-1")
    definition["caches"]["deps"]["paths"] = ["../../outside"]
    outcome = service.start("app", definition)
    assert outcome.status == Status.FAILED
    assert "escapes" in outcome.error


# -- download_artifact: an earlier stage's artifact in a later task's workspace ------------------

def download(name: str = "package", **attributes) -> dict:
    return {"type": "download_artifact", "name": name, "path": ".", "extract": True,
            **attributes}


def build_then_deploy(*deploy_steps: tuple[str, dict]) -> dict:
    return pipeline({
        "build": stage({"package": task(
            ("make", command("mkdir -p target; echo jar > target/app.jar; "
                             "printf '#!/bin/sh\\necho deployed\\n' > deploy.sh; "
                             "chmod +x deploy.sh")),
            ("pack", archive("package", "target/*.jar", "deploy.sh")))}),
        "deploy": stage({"hosts": task(*deploy_steps)})})


def test_download_artifact_unpacks_an_earlier_stages_archive_into_the_workspace(service):
    definition = build_then_deploy(("fetch", download(path="release")),
                                   ("run", command("cat release/target/app.jar; "
                                                   "./release/deploy.sh")))
    outcome = service.start("app", definition)
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert log_text(service, "app#1", step="run") == ["jar", "deployed"]
    fetched = steps_of(service, "app#1")[("hosts", "fetch")]
    artifact, = service.store.artifacts(service.get("app#1").id)
    assert fetched.outputs == {"sha256": artifact.sha256, "path": "release"}
    assert log_text(service, "app#1", step="fetch")[0].startswith(
        "unpacked 2 members of artifact package (")


def test_download_artifact_without_extracting_copies_the_tgz(service):
    definition = build_then_deploy(("fetch", download(extract=False, path="in")),
                                   ("list", command("tar tzf in/package.tgz | sort")))
    assert service.start("app", definition).status == Status.SUCCEEDED
    assert log_text(service, "app#1", step="list") == ["deploy.sh", "target/app.jar"]


def test_download_artifact_refuses_a_missing_or_changed_artifact(service, config_dir):
    missing = build_then_deploy(("fetch", download("nothing")))
    assert service.start("app", missing).status == Status.FAILED
    assert steps_of(service, "app#1")[("hosts", "fetch")].error.startswith(
        "this run has no artifact 'nothing'")

    # the artifact changed on disk between the build and the deploy stage
    tamper = ("tamper", command(f"echo evil >> {config_dir}/.flowplan/artifacts/app/2/package.tgz"))
    changed = build_then_deploy(tamper, ("fetch", download()))
    assert service.start("app", changed).status == Status.FAILED
    assert "changed since it was made" in steps_of(service, "app#2")[("hosts", "fetch")].error


def _hostile_tgz(path, member: str, *, link: str | None = None) -> None:
    import io

    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(member)
        if link is not None:
            info.type, info.linkname = tarfile.SYMTYPE, link
            tar.addfile(info)
        else:
            data = b"owned\n"
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("member, link", [("../../escaped.txt", None),
                                          ("/tmp/flowplan-absolute-escape.txt", None),
                                          ("link", "/etc"), ("link", "../../..")])
def test_unpacking_refuses_members_leaving_the_target(tmp_path, member, link):
    from flowplan.executor.step_process import user_files

    hostile = tmp_path / "hostile.tgz"
    _hostile_tgz(hostile, member, link=link)
    target = tmp_path / "a" / "b" / "target"
    with open(hostile, "rb") as data, pytest.raises(user_files.Refused) as refused:
        user_files.extract_into(data, target, "artifact evil")
    assert str(refused.value).startswith(f"artifact evil holds {member!r}")
    assert not (tmp_path / "a" / "escaped.txt").exists()
    assert not list(target.iterdir())


def test_receiving_a_file_refuses_names_that_are_not_one_file_name(tmp_path):
    import io

    from flowplan.executor.step_process import user_files

    for name in ("", "..", "a/b", "x\0y"):
        with pytest.raises(user_files.Refused):
            user_files.receive(io.BytesIO(b"x"), tmp_path, name)
    user_files.receive(io.BytesIO(b"data"), tmp_path / "in", "package.tgz")
    assert (tmp_path / "in" / "package.tgz").read_bytes() == b"data"

"""The image walkthrough end to end: a copy of examples/java-image run by its own run.sh with
`flowplan` on PATH, as its README says, against a real docker-registry started here (named by
FP_VAR_registry_host, so run.sh starts none) and a busybox base image built locally (there is
no Docker Hub here: FP_VAR_base_image). The pipeline checks the service out of its git
repository, builds the jar with Maven offline (java_build), builds and pushes the image with
buildah (image_build), and a later stage reads the step's outputs; the image is then read back
from the registry with skopeo: manifest, config and labels, and the jar inside the layer."""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import subprocess
import tarfile
import zipfile

import pytest
from cli_workspace import REPO
from images import base_image, buildah_problem, image_store  # noqa: F401
from registry import (launch, registry_problem, skopeo_copy_to_dir, skopeo_inspect,
                      skopeo_problem)
from test_cli_runs_quickstart import quickstart_env

pytestmark = pytest.mark.skipif(
    bool(buildah_problem() or registry_problem() or skopeo_problem()
         or shutil.which("mvn") is None),
    reason=buildah_problem() or registry_problem() or skopeo_problem() or "mvn is missing")

JAR = "app/hello-service.jar"


def layer_file(directory, name: str) -> bytes | None:
    """The file `name` in the image skopeo copied to `directory` (the topmost layer having it)."""
    manifest = json.loads((directory / "manifest.json").read_text())
    found = None
    for layer in manifest["layers"]:
        blob = (directory / layer["digest"].split(":", 1)[1]).read_bytes()
        if blob[:2] == b"\x1f\x8b":
            blob = gzip.decompress(blob)
        with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
            for member in archive.getmembers():
                if member.name.lstrip("./") == name and member.isfile():
                    found = archive.extractfile(member).read()
    return found


def test_the_image_walkthrough_builds_the_service_image_and_pushes_it(
        tmp_path, image_store, base_image):
    registry = launch(tmp_path / "registry")
    try:
        example = tmp_path / "java-image"
        shutil.copytree(REPO / "examples" / "java-image", example,
                        ignore=shutil.ignore_patterns(".flowplan"))
        env = {**quickstart_env(), **image_store.environment,
               "FP_VAR_registry_host": registry.host, "FP_VAR_base_image": base_image}
        completed = subprocess.run(["./run.sh"], cwd=example, env=env, capture_output=True,
                                   text=True, timeout=300, stdin=subprocess.DEVNULL)
        output = completed.stdout + completed.stderr
        assert completed.returncode == 0, output
        assert "Traceback" not in output
        stdout = completed.stdout

        commit = subprocess.run(["git", "--git-dir", str(example / ".flowplan" / "app.git"),
                                 "rev-parse", "master"], capture_output=True, text=True,
                                check=True).stdout.strip()
        repository = f"{registry.host}/demo/hello-service"
        assert re.search(r"^==> hello#1 succeeded", stdout, re.M), stdout
        assert re.search(rf"^ +pushed {re.escape(repository)} \(2 tags\) sha256:[0-9a-f]{{12}}$",
                         stdout, re.M), stdout
        assert registry.tags("demo/hello-service") == sorted(["1", commit[:7]])
        assert stdout.rstrip().endswith(" ".join(sorted(["1", commit[:7]])))

        summary = skopeo_inspect(f"{repository}:1")
        digest = summary["Digest"]
        assert f"ready to deploy {repository}@{digest} (tags 1 {commit[:7]})" in stdout
        assert skopeo_inspect(f"{repository}:{commit[:7]}")["Digest"] == digest
        manifest = skopeo_inspect(f"{repository}@{digest}", raw=True)
        assert manifest["schemaVersion"] == 2 and len(manifest["layers"]) >= 2
        config = skopeo_inspect(f"{repository}:1", config=True)["config"]
        assert config["Labels"]["org.opencontainers.image.revision"] == commit
        assert config["Labels"]["io.flowplan.run"] == "hello#1"
        assert config["Labels"]["org.opencontainers.image.source"] == \
            str(example / ".flowplan" / "app.git")
        assert config["Cmd"] == ["java", "-jar", "/app/hello-service.jar"]
        assert "PORT=8080" in config["Env"]

        copied = skopeo_copy_to_dir(f"{repository}@{digest}", tmp_path / "image")
        jar = layer_file(copied, JAR)
        assert jar is not None, "the jar is not in the image"
        with zipfile.ZipFile(io.BytesIO(jar)) as archive:
            assert "demo/HelloService.class" in archive.namelist()
            assert "Main-Class: demo.HelloService" in \
                archive.read("META-INF/MANIFEST.MF").decode()
        assert layer_file(copied, "bin/busybox") is not None      # the base it was built on
    finally:
        registry.stop()

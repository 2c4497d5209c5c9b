"""The Kubernetes walkthrough end to end: a copy of examples/java-k8s run by its own run.sh with
`flowplan` on PATH, as its README says, against a real docker-registry and the Kubernetes API
emulator started here (named by FP_VAR_registry_host and FP_VAR_kubeconfig, so run.sh starts
neither) and a busybox base image built locally. The pipeline checks the service out of its git
repository, builds the jar (java_build), builds and pushes the image (image_build), and applies
the repository's manifests with the pushed image in `${IMAGE}` blue/green (kubectl_apply): the
emulator then holds hello-blue running that image and the Service selecting blue. (Second runs,
rollbacks and canaries are tests/unit/providers/test_kubernetes_strategy_runs.py's: a second run
here would build the image again.)"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from cli_workspace import REPO
from images import base_image, buildah_problem, image_store  # noqa: F401
from kube import cluster as emulated_cluster
from registry import launch, registry_problem, skopeo_inspect, skopeo_problem
from test_cli_runs_quickstart import quickstart_env

pytestmark = pytest.mark.skipif(
    bool(buildah_problem() or registry_problem() or skopeo_problem()
         or shutil.which("mvn") is None),
    reason=buildah_problem() or registry_problem() or skopeo_problem() or "mvn is missing")

COLOUR = "flowplan.dev/colour"


def flowplan(example, env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["flowplan", *args], cwd=example, env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def live(server, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in server.objects(kind, "default")
            if not o["metadata"].get("deletionTimestamp")}


def test_the_k8s_walkthrough_deploys_the_pushed_image_blue_green(
        tmp_path, image_store, base_image):
    registry = launch(tmp_path / "registry")
    try:
        with emulated_cluster(tmp_path / "kube", ready_after=0.2) as kube:
            example = tmp_path / "java-k8s"
            shutil.copytree(REPO / "examples" / "java-k8s", example,
                            ignore=shutil.ignore_patterns(".flowplan"))
            env = {**quickstart_env(), **image_store.environment,
                   "FP_VAR_registry_host": registry.host, "FP_VAR_base_image": base_image,
                   "FP_VAR_kubeconfig": str(kube.kubeconfig)}
            completed = subprocess.run(["./run.sh"], cwd=example, env=env, capture_output=True,
                                       text=True, timeout=300, stdin=subprocess.DEVNULL)
            output = completed.stdout + completed.stderr
            assert completed.returncode == 0, output
            assert "Traceback" not in output
            stdout = completed.stdout
            assert re.search(r"^==> hello#1 succeeded", stdout, re.M), stdout

            repository = f"{registry.host}/demo/hello-service"
            digest = skopeo_inspect(f"{repository}:1")["Digest"]
            first_image = f"{repository}@{digest}"
            deployments = live(kube.server, "Deployment")
            assert set(deployments) == {"hello-blue"}
            containers = deployments["hello-blue"]["spec"]["template"]["spec"]["containers"]
            assert [c["image"] for c in containers] == [first_image]
            assert deployments["hello-blue"]["status"]["readyReplicas"] == 2
            service = live(kube.server, "Service")["hello"]
            assert service["spec"]["selector"] == {"app": "hello", COLOUR: "blue"}
            assert re.search(r"^ +blue serves Service hello$", stdout, re.M), stdout
            assert "switched Service hello to blue" in stdout

            summary = flowplan(example, env, "runs", "show", "hello#1")
            assert "cluster.apply.manifests.yaml" in summary.stdout, summary.stdout
    finally:
        registry.stop()

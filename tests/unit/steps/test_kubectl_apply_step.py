"""`kubectl_apply` against the Kubernetes emulator: manifests applied by server-side apply
(field manager flowplan) with placeholders filled and the rollout waited for; prune, replace,
conflicts and force_conflicts; the faults (a rollout that never gets ready, an unknown kind, a
namespace that does not exist, an expired token, manifests that are malformed or name an unknown
placeholder) each failing with its own message and never the token; a whole pipeline run with
the image from an earlier step's output."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from pathlib import Path

import pytest
from steps_support import config_dir, load_pipeline, log_text, make_service, steps_of  # noqa: F401
from steps_support import step_context  # noqa: F401 - a fixture

from flowplan.config.loader import load_config
from flowplan.executor.status import Status
from flowplan.executor.targets import run_targets
from flowplan_providers.kubernetes.labels import STEP_LABEL
from flowplan_providers.kubernetes.step import KubectlApplyStep, KubectlApplyStepType
from tests.support.kube import cluster as kube_cluster

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${REPLICAS}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: ${IMAGE}
"""

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: hello
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
"""


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    with kube_cluster(tmp_path_factory.mktemp("kube"), ready_after=0.1) as started:
        yield started


@pytest.fixture
def namespace(kube, request):
    """A namespace of this test's own."""
    from flowplan_providers.kubernetes.cluster import ClusterSettings, connect

    name = "t-" + request.node.name.removeprefix("test_")[:40].replace("_", "-").strip("-")
    with connect(ClusterSettings(kubeconfig=str(kube.kubeconfig), context="emulator")) as c:
        c.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}],
                namespace="")
    return name


def write(workspace: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def run_step(context, kube, namespace, **attributes):
    """The step run with `attributes` (cluster: the emulator's kubeconfig unless given)."""
    attributes = {"type": "kubectl_apply", "namespace": namespace, "manifests": "k8s",
                  "timeout": "10s",
                  "cluster": {"kubeconfig": str(kube.kubeconfig), "context": "emulator"},
                  **attributes}
    if attributes["cluster"] is None:
        del attributes["cluster"]
    config = KubectlApplyStep.model_validate(attributes)
    context.config = config
    context.attributes = config.model_dump()
    return KubectlApplyStepType().run(context)


def objects(kube, kind, namespace):
    return {o["metadata"]["name"]: o for o in kube.server.objects(kind, namespace)}


def said(context) -> str:
    return "\n".join(context.log.said)


def test_manifests_are_applied_with_placeholders_filled_and_the_rollout_waited_for(
        step_context, kube, namespace):
    write(step_context.workspace, {"k8s/app.yaml": DEPLOYMENT, "k8s/config.yaml": CONFIGMAP})
    result = run_step(step_context, kube, namespace,
                      variables={"IMAGE": "registry.local/web@sha256:" + "a" * 64,
                                 "REPLICAS": 2})
    assert result.status == Status.SUCCEEDED, result.error
    deployment = objects(kube, "Deployment", namespace)["web"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith("a" * 64)
    assert deployment["status"]["readyReplicas"] == 2          # waited for
    assert deployment["metadata"]["labels"][STEP_LABEL] == "app.s.t.x"
    assert {m["manager"] for m in deployment["metadata"]["managedFields"]} >= {"flowplan"}
    assert result.outputs["applied"].split() == [
        f"ConfigMap/{namespace}/web-config", f"Service/{namespace}/web",
        f"Deployment/{namespace}/web"]                       # configuration before workloads
    assert f"Deployment {namespace}/web: rolled out" in said(step_context)
    (artifact,) = result.artifacts
    assert artifact.name == "t.x.manifests.yaml" and result.outputs["manifests"] == artifact.name
    kept = Path(artifact.path).read_text()
    assert "image: registry.local/web@sha256:" in kept and "${IMAGE}" not in kept


def test_prune_deletes_what_an_earlier_apply_of_the_step_left_and_nothing_else(
        step_context, kube, namespace):
    from flowplan_providers.kubernetes.cluster import ClusterSettings, connect

    write(step_context.workspace, {"k8s/config.yaml": CONFIGMAP})
    assert run_step(step_context, kube, namespace).status == Status.SUCCEEDED
    with connect(ClusterSettings(kubeconfig=str(kube.kubeconfig), context="emulator")) as c:
        c.apply([{"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "by-hand"}, "data": {"a": "1"}},
                 {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "other-step", "labels": {STEP_LABEL: "app.s.t.other"}}}],
                namespace=namespace, field_manager="kubectl")
    (step_context.workspace / "k8s/config.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n")
    result = run_step(step_context, kube, namespace, prune=True)
    assert result.status == Status.SUCCEEDED, result.error
    assert sorted(objects(kube, "ConfigMap", namespace)) == ["by-hand", "other-step"]
    assert result.outputs["pruned"] == f"ConfigMap/{namespace}/web-config"
    assert "no longer in the manifests" in said(step_context)


def test_a_conflict_names_the_field_and_its_manager_and_force_conflicts_takes_it_over(
        step_context, kube, namespace):
    from flowplan_providers.kubernetes.cluster import ClusterSettings, connect

    with connect(ClusterSettings(kubeconfig=str(kube.kubeconfig), context="emulator")) as c:
        c.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"},
                  "data": {"greeting": "hi"}}], namespace=namespace, field_manager="kubectl")
    write(step_context.workspace, {"k8s/config.yaml": CONFIGMAP})
    result = run_step(step_context, kube, namespace)
    assert result.status == Status.FAILED
    assert ".data.greeting is managed by 'kubectl'" in result.error
    assert "force_conflicts = true" in result.error
    assert "applied before" not in result.error          # the first object conflicted
    assert objects(kube, "ConfigMap", namespace)["web-config"]["data"]["greeting"] == "hi"
    assert run_step(step_context, kube, namespace, force_conflicts=True).status == \
        Status.SUCCEEDED
    assert objects(kube, "ConfigMap", namespace)["web-config"]["data"]["greeting"] == "hello"


def test_replace_puts_the_manifest_over_the_object(step_context, kube, namespace):
    from flowplan_providers.kubernetes.cluster import ClusterSettings, connect

    with connect(ClusterSettings(kubeconfig=str(kube.kubeconfig), context="emulator")) as c:
        c.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"},
                  "data": {"greeting": "hi", "extra": "by hand"}}], namespace=namespace,
                field_manager="kubectl")
    write(step_context.workspace, {"k8s/config.yaml": CONFIGMAP})
    result = run_step(step_context, kube, namespace, replace=True)
    assert result.status == Status.SUCCEEDED, result.error
    assert objects(kube, "ConfigMap", namespace)["web-config"]["data"] == {"greeting": "hello"}
    assert "replaced ConfigMap" in said(step_context)


def test_a_rollout_that_never_gets_ready_times_out_with_the_pods_and_their_reasons(
        step_context, kube, namespace):
    write(step_context.workspace, {"k8s/app.yaml": DEPLOYMENT})
    started = time.monotonic()
    result = run_step(step_context, kube, namespace, timeout="1s",
                      variables={"IMAGE": "registry.local/web:broken", "REPLICAS": 1})
    assert result.status == Status.FAILED
    assert time.monotonic() - started < 8
    assert f"rollout not finished after 1s" in result.error
    assert f"Deployment {namespace}/web (1 of 1 updated, 0 ready" in result.error
    assert "pods not ready: web-" in result.error and "ImagePullBackOff" in result.error
    assert result.artifacts                           # kept even though the rollout failed


def test_cancel_while_waiting_for_the_rollout_ends_the_step_canceled(
        step_context, kube, namespace):
    write(step_context.workspace, {"k8s/app.yaml": DEPLOYMENT})
    threading.Timer(0.5, step_context.cancel.set).start()
    result = run_step(step_context, kube, namespace, timeout="30s",
                      variables={"IMAGE": "registry.local/web:broken", "REPLICAS": 1})
    assert result.status == Status.CANCELED


def test_an_unknown_kind_lists_what_the_server_offers(step_context, kube, namespace):
    write(step_context.workspace, {"k8s/x.yaml": "apiVersion: example.com/v1\nkind: Widget\n"
                                                 "metadata: {name: w}\n"})
    result = run_step(step_context, kube, namespace)
    assert result.status == Status.FAILED
    assert "has no kind 'Widget' in 'example.com/v1'" in result.error
    assert "ConfigMap" in result.error and "Deployment" in result.error
    (step_context.workspace / "k8s/x.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: w}\n")
    result = run_step(step_context, kube, namespace)
    assert "has no kind 'Deploymnet' in 'apps/v1': did you mean Deployment?" in result.error


def test_a_failure_halfway_says_what_was_applied_before(step_context, kube, namespace):
    write(step_context.workspace, {"k8s/config.yaml": CONFIGMAP,
                                   "k8s/x.yaml": "apiVersion: example.com/v1\nkind: Widget\n"
                                                 "metadata: {name: w}\n"})
    result = run_step(step_context, kube, namespace)
    assert result.status == Status.FAILED
    assert result.error.endswith(f"(2 of 3 objects were applied before: ConfigMap/{namespace}/"
                                 f"web-config, Service/{namespace}/web)")


def test_a_namespace_that_does_not_exist_is_named(step_context, kube):
    write(step_context.workspace, {"k8s/config.yaml": CONFIGMAP})
    result = run_step(step_context, kube, "no-such-namespace")
    assert result.status == Status.FAILED
    assert "namespace 'no-such-namespace' does not exist on cluster emulator" in result.error


def test_an_expired_token_is_a_401_naming_the_cluster_and_never_the_token(
        step_context, kube, namespace):
    token = kube.server.issue_token()
    write(step_context.workspace, {"k8s/config.yaml": CONFIGMAP})
    cluster = {"host": kube.url, "token": token, "ca": str(kube.ca_file)}
    assert run_step(step_context, kube, namespace, cluster=cluster).status == Status.SUCCEEDED
    kube.server.expire_token(token)
    result = run_step(step_context, kube, namespace, cluster=cluster)
    assert result.status == Status.FAILED
    assert f"cluster {kube.url} refused the credentials (401 Unauthorized)" in result.error
    assert token not in result.error and token not in said(step_context)


def test_without_cluster_the_provider_block_is_used(step_context, kube, namespace):
    step_context.provider_block = lambda name: {
        "host": kube.url, "token": kube.token, "ca": str(kube.ca_file)} \
        if name == "kubernetes" else None
    write(step_context.workspace, {"k8s/config.yaml": CONFIGMAP})
    result = run_step(step_context, kube, namespace, cluster=None)
    assert result.status == Status.SUCCEEDED, result.error
    assert kube.token not in said(step_context)
    base = step_context.layout.settings.base_dir
    (base / "clusters").mkdir()
    (base / "clusters/emulator.kubeconfig").write_text(kube.kubeconfig.read_text())
    step_context.provider_block = lambda name: {
        "kubeconfig": "clusters/emulator.kubeconfig", "context": "emulator"}
    result = run_step(step_context, kube, namespace, cluster=None)
    assert result.status == Status.SUCCEEDED, result.error       # from the config directory
    step_context.provider_block = lambda name: None
    result = run_step(step_context, kube, namespace, cluster=None)
    assert result.status == Status.FAILED and 'provider "kubernetes" block' in result.error


def test_manifest_mistakes_fail_before_the_cluster_is_asked(step_context, kube, namespace):
    requests = len(kube.server.requests)
    write(step_context.workspace, {"k8s/app.yaml": DEPLOYMENT})
    result = run_step(step_context, kube, namespace, variables={"IMAGE": "x"})
    assert result.status == Status.FAILED
    assert result.error.startswith("k8s/app.yaml line 6: ${REPLICAS} names no variable")
    (step_context.workspace / "k8s/app.yaml").write_text("kind: ConfigMap\nmetadata:\n"
                                                         "  name: [unclosed\n")
    result = run_step(step_context, kube, namespace)
    assert result.status == Status.FAILED
    assert result.error.startswith("k8s/app.yaml line ") and "malformed YAML" in result.error
    outside = step_context.workspace.parent / "outside.yaml"
    outside.write_text(CONFIGMAP)
    (step_context.workspace / "k8s/app.yaml").unlink()
    os.symlink(outside, step_context.workspace / "k8s/app.yaml")
    result = run_step(step_context, kube, namespace)
    assert result.status == Status.FAILED and "escapes" in result.error
    result = run_step(step_context, kube, namespace, manifests="../*.yaml")
    assert result.status == Status.FAILED and "relative to the workspace" in result.error
    assert len(kube.server.requests) == requests


PIPELINE = """
variable "k8s_token" {
  sensitive = true
}
@PROVIDER@
pipeline "app" {
  stage "main" {
    task "t" {
      step "build" {
        type = "command"
        run  = "mkdir -p k8s && cp @MANIFEST@ k8s/app.yaml && echo image=registry.local/web:7 >> \\"$FLOWPLAN_OUTPUT\\""
      }
      step "deploy" {
        type      = "kubectl_apply"
        namespace = "@NAMESPACE@"
        manifests = "k8s/*.yaml"
        variables = { IMAGE = steps.t.build.image, REPLICAS = 1 }
        timeout   = "20s"
        @CLUSTER@
      }
    }
  }
}
"""


@pytest.mark.parametrize("where", ["provider", "cluster"])
def test_a_pipeline_deploys_the_image_an_earlier_step_output(config_dir, kube, namespace, where):
    """The token from a sensitive variable, in the provider block or the step's `cluster`."""
    manifest = config_dir / "app.yaml"
    manifest.write_text(DEPLOYMENT)
    settings = f'host = "{kube.url}", token = var.k8s_token, ca = "{kube.ca_file}"'
    block = 'provider "kubernetes" {\n  ' + settings.replace(", ", "\n  ") + "\n}"
    hcl = (PIPELINE.replace("@MANIFEST@", str(manifest)).replace("@NAMESPACE@", namespace)
           .replace("@PROVIDER@", block if where == "provider" else "")
           .replace("@CLUSTER@", f"cluster   = {{ {settings} }}" if where == "cluster" else ""))
    made = make_service(config_dir)
    try:
        variables = {"k8s_token": kube.token}
        definition, values, sensitive = load_pipeline(config_dir, hcl, "app", variables)
        made.targets = run_targets({}, load_config(config_dir, variables, environ={}))
        made.start("app", definition, variables=values, sensitive=sensitive)
        step = steps_of(made, "app#1")[("t", "deploy")]
        log = "\n".join(log_text(made, "app#1"))
        assert step.status == Status.SUCCEEDED, (step.error, log)
        deployment = objects(kube, "Deployment", namespace)["web"]
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == \
            "registry.local/web:7"
        assert f"Deployment {namespace}/web: rolled out" in log
        assert kube.token not in log
    finally:
        made.store.close()
    for path in (config_dir / ".flowplan").rglob("*"):
        if path.is_file():
            assert kube.token.encode() not in path.read_bytes(), path



def test_statefulsets_and_daemonsets_are_waited_for_too(step_context, kube, namespace):
    workload = """
        apiVersion: apps/v1
        kind: {kind}
        metadata:
          name: {name}
        spec:
          {replicas}
          serviceName: db
          selector:
            matchLabels: {{app: {name}}}
          template:
            metadata:
              labels: {{app: {name}}}
            spec:
              containers:
              - name: app
                image: registry.local/{name}:1
        """
    write(step_context.workspace, {
        "k8s/db.yaml": workload.format(kind="StatefulSet", name="db", replicas="replicas: 2"),
        "k8s/agent.yaml": workload.format(kind="DaemonSet", name="agent", replicas="")})
    result = run_step(step_context, kube, namespace)
    assert result.status == Status.SUCCEEDED, result.error
    assert objects(kube, "StatefulSet", namespace)["db"]["status"]["readyReplicas"] == 2
    assert objects(kube, "DaemonSet", namespace)["agent"]["status"]["numberAvailable"] == 1
    log = said(step_context)
    assert f"StatefulSet {namespace}/db: rolled out" in log
    assert f"DaemonSet {namespace}/agent: rolled out" in log


@pytest.mark.parametrize("variables, words", [
    ({"IMAGE": None}, "variable 'IMAGE' must be text, a number or true/false (it is null)"),
    ({"IMAGE": ["a"]}, "variable 'IMAGE' must be text"),
    ({"not-a-name": "x"}, "is not a name"),
])
def test_variables_that_cannot_fill_a_placeholder_are_refused(variables, words):
    with pytest.raises(ValueError) as caught:
        KubectlApplyStep.model_validate({"type": "kubectl_apply", "manifests": "k8s",
                                         "variables": variables})
    assert words in str(caught.value)


SECRET_USER = """
apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: ${PASSWORD}
"""
CONFIG_USER = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: db-config
data:
  password: ${PASSWORD}
"""


def test_a_sensitive_value_goes_only_into_a_secret_never_into_the_kept_manifests(
        step_context, kube, namespace):
    """The rendered manifests are kept with the run: a sensitive value of the run in anything
    but a Secret (whose data is not kept) is refused before the cluster is touched."""
    password = "s3cr3t-db-password"
    step_context.mask = lambda text: text.replace(password, "***")
    write(step_context.workspace, {"k8s/db.yaml": SECRET_USER + "---\n" + CONFIG_USER})
    refused = run_step(step_context, kube, namespace, variables={"PASSWORD": password})
    assert refused.status == Status.FAILED
    assert "ConfigMap db-config would hold a sensitive value in clear" in refused.error
    assert password not in refused.error and not refused.artifacts
    assert objects(kube, "Secret", namespace) == {}             # nothing was applied

    write(step_context.workspace, {"k8s/db.yaml": SECRET_USER})
    result = run_step(step_context, kube, namespace, variables={"PASSWORD": password})
    assert result.status == Status.SUCCEEDED, result.error
    assert "db" in objects(kube, "Secret", namespace)
    (artifact,) = result.artifacts
    assert password not in Path(artifact.path).read_text()

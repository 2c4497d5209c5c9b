"""The Kubernetes emulator speaks the API server's protocol to the official Python client over
HTTPS with its own CA and bearer tokens: discovery, get/list with selectors, create, replace,
the four patch types, server-side apply with managedFields and conflicts, dry runs, deletion
propagation, Status errors; and its controller rolls Deployments, StatefulSets and DaemonSets
out, pods becoming ready after the delay unless their image ends with `:broken`."""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from kubernetes import client, config

from tests.support.kube import cluster

ROOT = Path(__file__).resolve().parents[3]


def deployment(name="web", image="registry.local/app:1", replicas=2, labels=None):
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [{"name": "app", "image": image,
                                                           "ports": [{"containerPort": 8080}]}]}}}}


def service(name="web", selector=None):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector or {"app": name}, "ports": [{"port": 80}]}}


def eventually(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    with cluster(tmp_path_factory.mktemp("kube"), ready_after=0.1) as started:
        yield started


@pytest.fixture(scope="module")
def api(kube):
    return config.new_client_from_config(str(kube.kubeconfig), context="emulator")


@pytest.fixture
def namespace(kube, api, request):
    """A namespace of this test's own."""
    digest = hashlib.sha256(request.node.name.encode()).hexdigest()[:6]
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-") + "-" + digest
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    yield name
    client.CoreV1Api(api).delete_namespace(name)


class Raw:
    """Requests as they go over the wire: body bytes and content types of our choosing."""

    def __init__(self, kube, token=None):
        self.kube = kube
        self.client = httpx.Client(base_url=kube.url, verify=ssl.create_default_context(
            cafile=str(kube.ca_file)), timeout=10)
        self.token = kube.token if token is None else token

    def __call__(self, method, path, body=None, content_type="application/json", **params):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is not None:
            headers["Content-Type"] = content_type
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
        return self.client.request(method, path, content=body, headers=headers, params=params)


@pytest.fixture(scope="module")
def raw(kube):
    return Raw(kube)


def apply(raw, path, obj, manager="flowplan", **params):
    return raw("PATCH", path, obj, "application/apply-patch+yaml", fieldManager=manager, **params)


def deployments_path(namespace, name=""):
    return f"/apis/apps/v1/namespaces/{namespace}/deployments" + (f"/{name}" if name else "")


# -- discovery and authentication ------------------------------------------------------------


def test_discovery_describes_the_core_and_apps_groups(raw):
    assert raw("GET", "/api").json()["versions"] == ["v1"]
    groups = raw("GET", "/apis").json()
    assert groups["kind"] == "APIGroupList"
    assert {"groupVersion": "apps/v1", "version": "v1"} in groups["groups"][0]["versions"]
    core = {r["name"]: r for r in raw("GET", "/api/v1").json()["resources"]}
    assert core["namespaces"]["namespaced"] is False
    assert core["pods"]["kind"] == "Pod" and "po" in core["pods"]["shortNames"]
    apps = {r["name"]: r for r in raw("GET", "/apis/apps/v1").json()["resources"]}
    assert set(apps) >= {"deployments", "deployments/status", "deployments/scale",
                         "statefulsets", "daemonsets", "replicasets"}
    assert apps["deployments/scale"]["kind"] == "Scale"
    assert raw("GET", "/version").json()["gitVersion"].startswith("v1.32")
    assert raw("GET", "/apis/batch/v1").status_code == 404


def test_missing_wrong_and_expired_tokens_get_401_status(kube, api):
    for token in ("", "not-the-token"):
        answer = Raw(kube, token=token)("GET", "/api/v1/namespaces")
        assert answer.status_code == 401
        assert answer.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                 "status": "Failure", "message": "Unauthorized",
                                 "reason": "Unauthorized", "code": 401}
    token = kube.server.issue_token()
    assert Raw(kube, token=token)("GET", "/api/v1/namespaces").status_code == 200
    kube.server.expire_token(token)
    assert Raw(kube, token=token)("GET", "/api/v1/namespaces").status_code == 401
    assert client.CoreV1Api(api).list_namespace().items      # the fixture's token still works
    recorded = json.dumps([request.__dict__ for request in kube.server.requests])
    assert kube.token not in recorded and token not in recorded


def test_the_ca_and_kubeconfig_are_what_a_client_needs(kube):
    kubeconfig = yaml.safe_load(kube.kubeconfig.read_text())
    assert kubeconfig["current-context"] == "emulator"
    assert kubeconfig["clusters"][0]["cluster"]["server"] == kube.url
    assert kube.kubeconfig.stat().st_mode & 0o077 == 0
    with pytest.raises(httpx.ConnectError):       # not trusted without the emulator's CA
        httpx.get(kube.url + "/version", verify=ssl.create_default_context())


# -- objects -----------------------------------------------------------------------------------


def test_create_get_list_and_delete_with_label_and_field_selectors(api, namespace):
    core = client.CoreV1Api(api)
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        core.create_namespaced_config_map(namespace, {
            "metadata": {"name": name, "labels": {"tier": tier}}, "data": {"k": name}})
    names = lambda **selectors: [item.metadata.name for item in  # noqa: E731
                                 core.list_namespaced_config_map(namespace, **selectors).items]
    assert names(label_selector="tier=web") == ["a", "c"]
    assert names(label_selector="tier in (db,cache)") == ["b"]
    assert names(label_selector="tier!=web,tier") == ["b"]
    assert names(label_selector="!tier") == []
    assert names(field_selector="metadata.name=c") == ["c"]
    created = core.read_namespaced_config_map("a", namespace)
    assert created.metadata.uid and int(created.metadata.resource_version) > 0
    with pytest.raises(client.ApiException) as exists:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    assert exists.value.status == 409 and json.loads(exists.value.body)["reason"] == \
        "AlreadyExists"
    core.delete_namespaced_config_map("a", namespace)
    with pytest.raises(client.ApiException) as gone:
        core.read_namespaced_config_map("a", namespace)
    assert json.loads(gone.value.body)["message"] == 'configmaps "a" not found'


def test_writes_into_a_namespace_that_does_not_exist_are_404(raw):
    answer = apply(raw, deployments_path("nowhere", "web"), deployment())
    assert answer.status_code == 404
    assert answer.json()["message"] == 'namespaces "nowhere" not found'
    assert raw("POST", "/api/v1/namespaces/nowhere/configmaps",
               {"metadata": {"name": "x"}}).json()["details"] == {"name": "nowhere",
                                                                  "kind": "namespaces"}


def test_invalid_objects_get_422_with_causes(raw, namespace):
    broken = deployment()
    broken["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    del broken["spec"]["template"]["spec"]["containers"][0]["image"]
    answer = apply(raw, deployments_path(namespace, "web"), broken)
    assert answer.status_code == 422
    status = answer.json()
    assert status["reason"] == "Invalid"
    fields = {cause["field"] for cause in status["details"]["causes"]}
    assert fields == {"spec.template.metadata.labels", "spec.template.spec.containers[0].image"}
    assert raw("POST", f"/api/v1/namespaces/{namespace}/configmaps",
               {"metadata": {"name": "Not_A_Name"}}).status_code == 422


@pytest.mark.parametrize("method, content_type, body, status", [
    ("POST", "application/json", b"{not json", 400),
    ("POST", "application/json", b"[1, 2]", 400),
    ("POST", "application/json", b"", 400),
    ("POST", "application/json", b'{"metadata": "x"}', 400),
    ("POST", "application/json", b'{"metadata": {"name": "x", "labels": {"a": 1}}}', 400),
    ("POST", "application/json", b'{"kind": "Secret", "metadata": {"name": "x"}}', 400),
    ("POST", "application/json", b"[" * 100000 + b"]" * 100000, 400),
    ("PATCH", "application/apply-patch+yaml", b"kind: [unclosed\n", 400),
    ("PATCH", "application/apply-patch+yaml", b"just a string", 400),
    ("PATCH", "application/apply-patch+yaml", b"apiVersion: v1\nkind: ConfigMap\n"
     b"metadata: {name: target}\ndata: [1]\n", 400),
    ("PATCH", "application/merge-patch+json", b'"a string"', 400),
    ("PATCH", "application/json-patch+json", b'{"an": "object"}', 400),
    ("PATCH", "application/json-patch+json", b'[{"op": "remove", "path": "/nope"}]', 422),
    ("PATCH", "application/json-patch+json", b'[{"op": "explode", "path": "/data"}]', 400),
    ("PATCH", "text/plain", b"hello", 415),
    ("POST", "application/json", b'{"metadata": {"name": "x"}, "spec": ' + b'{"a": ' * 500
     + b"1" + b"}" * 501, 400),
    ("PATCH", "application/apply-patch+yaml", b"apiVersion: v1\nkind: ConfigMap\n"
     b"metadata: {name: target}\n" + b"".join(
         b"l%d: &l%d [%s]\n" % (i, i, b",".join([b"*l%d" % (i - 1)] * 9) if i else b"x")
         for i in range(12)), 400),
    ("PATCH", "application/apply-patch+yaml", b"apiVersion: v1\nkind: ConfigMap\n"
     b"metadata: {name: target, labels: {1: a}}\n", 400),
    ("PATCH", "application/apply-patch+yaml", b"apiVersion: v1\nkind: ConfigMap\n"
     b"metadata: {name: target}\ndata: {a: .nan}\n", 400),
    ("PATCH", "application/apply-patch+yaml", b"---\napiVersion: v1\n---\nkind: x\n", 400),
    ("PUT", "application/json", b'{"apiVersion": "v1", "kind": "ConfigMap", '
     b'"metadata": {"name": "target", "resourceVersion": "1"}}', 409),
])
def test_malformed_bodies_get_a_status_answer_never_a_crash(raw, namespace, method,
                                                             content_type, body, status):
    raw("POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "target"}})
    path = f"/api/v1/namespaces/{namespace}/configmaps" + ("" if method == "POST" else "/target")
    answer = raw(method, path, body, content_type, fieldManager="flowplan")
    assert answer.status_code == status, answer.text
    assert answer.json()["kind"] == "Status" and answer.json()["message"]
    assert raw("GET", "/version").status_code == 200


def test_yaml_timestamps_arrive_as_strings(raw, namespace):
    answer = apply(raw, f"/api/v1/namespaces/{namespace}/configmaps/dated",
                   b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dated\n"
                   b"  annotations: {released: 2024-05-01}\ndata: {at: 2024-05-01 10:00:00}\n")
    assert answer.status_code == 200, answer.text
    assert answer.json()["metadata"]["annotations"] == {"released": "2024-05-01"}
    assert answer.json()["data"] == {"at": "2024-05-01T10:00:00"}


@pytest.mark.parametrize("field, value", [
    ("ports", 80), ("env", "MODE=x"), ("ports", [80]), ("args", "--flag"), ("image", ["a", "b"])])
def test_wrongly_typed_container_fields_are_422(kube, raw, namespace, field, value):
    odd = deployment()
    odd["spec"]["template"]["spec"]["containers"][0][field] = value
    answer = apply(raw, deployments_path(namespace, "web"), odd)
    assert answer.status_code == 422, answer.text
    assert answer.json()["details"]["causes"][0]["field"].startswith(
        "spec.template.spec.containers[0].")
    assert kube.server.controller.errors == []


def test_a_body_over_3_mib_is_413(raw, namespace):
    answer = raw("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                 b'{"data": {"x": "' + b"a" * (3 * 1024 * 1024) + b'"}}')
    assert answer.status_code == 413
    assert answer.json()["reason"] == "RequestEntityTooLarge"


# -- server-side apply -------------------------------------------------------------------------


def test_apply_creates_then_updates_with_resource_version_generation_and_managed_fields(
        raw, namespace):
    path = deployments_path(namespace, "web")
    created = apply(raw, path, deployment()).json()
    assert created["metadata"]["generation"] == 1
    (entry,) = created["metadata"]["managedFields"]
    assert entry["manager"] == "flowplan" and entry["operation"] == "Apply"
    assert entry["fieldsType"] == "FieldsV1"
    containers = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert containers['k:{"name":"app"}']["f:image"] == {}
    assert "." in containers['k:{"name":"app"}']
    assert apply(raw, path, deployment()).json()["metadata"]["generation"] == 1
    labelled = deployment()
    labelled["metadata"]["labels"]["team"] = "a"
    relabelled = apply(raw, path, labelled).json()
    assert relabelled["metadata"]["generation"] == 1          # metadata only
    assert int(relabelled["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"])
    updated = apply(raw, path, deployment(image="registry.local/app:2")).json()
    assert updated["metadata"]["generation"] == 2
    assert "team" not in updated["metadata"]["labels"]          # no longer applied: removed


def test_applying_the_same_configuration_again_changes_nothing(raw, namespace):
    path = f"/api/v1/namespaces/{namespace}/configmaps/settings"
    settings = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                "data": {"a": "1"}}
    first = apply(raw, path, settings).json()
    again = apply(raw, path, settings).json()
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    settings["data"]["a"] = "2"
    assert apply(raw, path, settings).json()["metadata"]["resourceVersion"] != \
        first["metadata"]["resourceVersion"]


def test_apply_conflicts_name_the_field_and_the_manager_until_forced(raw, namespace):
    path = deployments_path(namespace, "web")
    apply(raw, path, deployment(replicas=2), manager="flowplan")
    answer = apply(raw, path, deployment(replicas=5), manager="helm")
    assert answer.status_code == 409
    status = answer.json()
    assert status["reason"] == "Conflict"
    assert status["details"]["causes"] == [{"type": "FieldManagerConflict",
                                            "message": 'conflict with "flowplan"',
                                            "field": ".spec.replicas"}]
    assert 'conflict with "flowplan": .spec.replicas' in status["message"]
    # the same value is shared ownership, not a conflict
    assert apply(raw, path, deployment(replicas=2), manager="helm").status_code == 200
    forced = apply(raw, path, deployment(replicas=5), manager="helm", force="true").json()
    assert forced["spec"]["replicas"] == 5
    owners = {entry["manager"]: entry["fieldsV1"] for entry in forced["metadata"]["managedFields"]}
    assert "f:replicas" in owners["helm"]["f:spec"]
    assert "f:replicas" not in owners["flowplan"]["f:spec"]
    # a patch of another kind takes the field too; applying again then conflicts with it
    raw("PATCH", f"{path}/scale", {"spec": {"replicas": 1}}, "application/merge-patch+json",
        fieldManager="kubectl-scale")
    answer = apply(raw, path, deployment(replicas=5), manager="helm")
    assert answer.status_code == 409
    cause = answer.json()["details"]["causes"][0]
    assert cause["field"] == ".spec.replicas"
    assert cause["message"].startswith('conflict with "kubectl-scale" with subresource "scale" '
                                       "using apps/v1 at ")


def test_apply_requires_a_field_manager_and_an_apply_patch_type(raw, namespace):
    path = deployments_path(namespace, "web")
    answer = raw("PATCH", path, deployment(), "application/apply-patch+yaml")
    assert answer.status_code == 422 and "fieldManager" in answer.json()["message"]
    apply(raw, path, deployment())
    forced = raw("PATCH", path, {"spec": {}}, "application/merge-patch+json", force="true")
    assert forced.status_code == 422 and "non-apply patch" in forced.json()["message"]


def test_dry_run_answers_without_storing(kube, raw, namespace):
    path = deployments_path(namespace, "web")
    answer = apply(raw, path, deployment(), dryRun="All")
    assert answer.status_code == 200 and answer.json()["spec"]["replicas"] == 2
    assert kube.server.objects("Deployment", namespace) == []
    apply(raw, path, deployment())
    raw("DELETE", path, dryRun="All")
    assert raw("GET", path).status_code == 200
    assert raw("GET", path, dryRun="Some").status_code == 400


# -- other writes ------------------------------------------------------------------------------


def test_merge_and_strategic_patches_switch_a_selector_and_scale(api, raw, namespace):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    apply(raw, f"/api/v1/namespaces/{namespace}/services/web", service(
        selector={"app": "web", "colour": "blue"}))
    switched = core.patch_namespaced_service(
        "web", namespace, {"spec": {"selector": {"colour": "green"}}},
        _content_type="application/merge-patch+json")
    assert switched.spec.selector == {"app": "web", "colour": "green"}
    assert switched.spec.cluster_ip                     # defaulted, kept
    apply(raw, deployments_path(namespace, "web"), deployment())
    scaled = apps.patch_namespaced_deployment_scale(
        "web", namespace, {"spec": {"replicas": 4}},
        _content_type="application/merge-patch+json")
    assert scaled.spec.replicas == 4
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 4
    patched = apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "registry.local/app:3"}]}}}},
        _content_type="application/strategic-merge-patch+json")
    (container,) = patched.spec.template.spec.containers
    assert container.image == "registry.local/app:3" and container.ports[0].container_port == 8080
    assert patched.metadata.generation == 3
    # a dict without _content_type goes as a strategic merge patch
    assert apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 1}}
                                            ).spec.replicas == 1


def test_put_replaces_and_checks_the_resource_version(api, namespace):
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"},
                                                           "data": {"a": "1", "b": "2"}})
    created.data = {"a": "9"}
    replaced = core.replace_namespaced_config_map("c", namespace, created)
    assert replaced.data == {"a": "9"}
    with pytest.raises(client.ApiException) as stale:
        core.replace_namespaced_config_map("c", namespace, created)   # the old version
    assert stale.value.status == 409
    assert "the object has been modified" in json.loads(stale.value.body)["message"]


def test_deleting_a_deployment_deletes_its_replica_sets_and_pods_unless_orphaned(
        kube, api, raw, namespace):
    apps = client.AppsV1Api(api)
    for name in ("web", "api"):
        apply(raw, deployments_path(namespace, name), deployment(name))
    assert eventually(lambda: len(kube.server.objects("Pod", namespace)) == 4)
    apps.delete_namespaced_deployment("web", namespace)
    pods = [pod["metadata"]["name"] for pod in kube.server.objects("Pod", namespace)]
    assert len(pods) == 2 and all(name.startswith("api-") for name in pods)
    assert [rs["metadata"]["name"] for rs in kube.server.objects("ReplicaSet", namespace)
            ][0].startswith("api-")
    apps.delete_namespaced_deployment("api", namespace, propagation_policy="Orphan")
    (orphan,) = kube.server.objects("ReplicaSet", namespace)
    assert orphan["metadata"]["ownerReferences"] == []


# -- the controller ----------------------------------------------------------------------------


def test_a_deployment_rolls_out_and_reports_ready_after_the_delay(kube, api, raw, namespace):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apply(raw, deployments_path(namespace, "web"), deployment(replicas=3))

    def complete():
        status = apps.read_namespaced_deployment_status("web", namespace).status
        return status if status.ready_replicas == 3 else None
    status = eventually(complete)
    assert status.observed_generation == 1
    assert (status.replicas, status.updated_replicas, status.available_replicas) == (3, 3, 3)
    conditions = {c.type: (c.status, c.reason) for c in status.conditions}
    assert conditions == {"Available": ("True", "MinimumReplicasAvailable"),
                          "Progressing": ("True", "NewReplicaSetAvailable")}
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 3 and all(pod.status.phase == "Running" for pod in pods)
    (replica_set,) = apps.list_namespaced_replica_set(namespace).items
    assert replica_set.metadata.owner_references[0].kind == "Deployment"
    assert pods[0].metadata.labels["pod-template-hash"] == \
        replica_set.metadata.labels["pod-template-hash"]


def test_a_broken_image_never_gets_ready_and_the_old_pods_keep_serving(
        kube, api, raw, namespace):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    path = deployments_path(namespace, "web")
    apply(raw, path, deployment(replicas=2))
    assert eventually(lambda: apps.read_namespaced_deployment_status(
        "web", namespace).status.ready_replicas == 2)
    apply(raw, path, deployment(replicas=2, image="registry.local/app:broken"))
    time.sleep(0.5)
    status = apps.read_namespaced_deployment_status("web", namespace).status
    assert status.observed_generation == 2
    assert (status.updated_replicas, status.ready_replicas, status.replicas) == (2, 2, 4)
    broken = [pod for pod in core.list_namespaced_pod(namespace).items
              if pod.spec.containers[0].image.endswith(":broken")]
    assert len(broken) == 2
    waiting = broken[0].status.container_statuses[0].state.waiting
    assert waiting.reason == "ImagePullBackOff"
    assert "registry.local/app:broken" in waiting.message
    ready_condition = {c.type: c for c in broken[0].status.conditions}["Ready"]
    assert ready_condition.status == "False" and ready_condition.reason == "ContainersNotReady"


def test_a_fixed_image_replaces_the_old_pods_once_ready(kube, raw, namespace):
    path = deployments_path(namespace, "web")
    apply(raw, path, deployment(replicas=2))
    assert eventually(lambda: len(kube.server.objects("Pod", namespace)) == 2)
    apply(raw, path, deployment(replicas=2, image="registry.local/app:2"))

    def rolled_out():
        pods = kube.server.objects("Pod", namespace)
        return len(pods) == 2 and all(pod["spec"]["containers"][0]["image"].endswith(":2")
                                      for pod in pods)
    assert eventually(rolled_out)
    sets = {rs["metadata"]["name"]: rs["spec"]["replicas"]
            for rs in kube.server.objects("ReplicaSet", namespace)}
    assert sorted(sets.values()) == [0, 2]


def test_set_ready_delay_holds_new_pods_back(kube, raw, namespace):
    kube.server.set_ready_delay(30)
    try:
        apply(raw, deployments_path(namespace, "web"), deployment(replicas=1))
        time.sleep(0.3)
        (pod,) = kube.server.objects("Pod", namespace)
        assert pod["status"]["phase"] == "Pending"
        assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == \
            "ContainerCreating"
    finally:
        kube.server.set_ready_delay(0.1)


def test_stateful_sets_and_daemon_sets_report_their_status(kube, api, raw, namespace):
    apps = client.AppsV1Api(api)
    stateful = deployment("db", replicas=2)
    stateful["kind"] = "StatefulSet"
    stateful["spec"]["serviceName"] = "db"
    apply(raw, f"/apis/apps/v1/namespaces/{namespace}/statefulsets/db", stateful)
    daemon = deployment("agent")
    daemon["kind"] = "DaemonSet"
    del daemon["spec"]["replicas"]
    apply(raw, f"/apis/apps/v1/namespaces/{namespace}/daemonsets/agent", daemon)
    assert eventually(lambda: apps.read_namespaced_stateful_set_status(
        "db", namespace).status.ready_replicas == 2)
    status = apps.read_namespaced_stateful_set_status("db", namespace).status
    assert (status.replicas, status.updated_replicas, status.observed_generation) == (2, 2, 1)
    assert status.current_revision == status.update_revision
    assert sorted(pod["metadata"]["name"] for pod in kube.server.objects("Pod", namespace)
                  if pod["metadata"]["name"].startswith("db-")) == ["db-0", "db-1"]
    assert eventually(lambda: apps.read_namespaced_daemon_set_status(
        "agent", namespace).status.number_ready == 1)
    status = apps.read_namespaced_daemon_set_status("agent", namespace).status
    assert (status.desired_number_scheduled, status.updated_number_scheduled,
            status.number_available) == (1, 1, 1)


def test_a_canned_answer_replaces_the_next_matching_request(kube, api):
    kube.server.answer_once("GET", "/api/v1/namespaces/default", 200, b"{truncated")
    with pytest.raises(Exception):
        client.CoreV1Api(api).read_namespace("default")
    assert client.CoreV1Api(api).read_namespace("default").metadata.name == "default"


def test_runs_on_its_own_and_prints_a_kubeconfig(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.kubernetes", "--port", "0", "--dir",
         str(tmp_path), "--ready-after", "0.1"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        printed = ""
        while "current-context" not in printed:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            printed += line
        kubeconfig = yaml.safe_load(printed)
        assert kubeconfig["current-context"] == "emulator"
        api = config.new_client_from_config(str(tmp_path / "kubeconfig"), context="emulator")
        names = [item.metadata.name for item in client.CoreV1Api(api).list_namespace().items]
        assert "default" in names
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_watches_stream_changes_from_a_resource_version(api, raw, namespace):
    from kubernetes import watch

    core = client.CoreV1Api(api)
    listed = core.list_namespaced_config_map(namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "a",
                                                               "labels": {"watched": "yes"}}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
    core.patch_namespaced_config_map("a", namespace, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("a", namespace)
    seen = [(event["type"], event["object"].metadata.name) for event in watch.Watch().stream(
        core.list_namespaced_config_map, namespace, label_selector="watched=yes",
        resource_version=listed.metadata.resource_version, timeout_seconds=1)]
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    current = [(event["type"], event["object"].metadata.name) for event in watch.Watch().stream(
        core.list_namespaced_config_map, namespace, timeout_seconds=1)]
    assert current == [("ADDED", "b")]
    answer = raw("GET", f"/api/v1/namespaces/{namespace}/configmaps", watch="true",
                 resourceVersion="banana")
    assert answer.status_code == 400


def test_the_system_namespaces_cannot_be_deleted_and_protobuf_is_refused(raw):
    answer = raw("DELETE", "/api/v1/namespaces/default")
    assert answer.status_code == 403
    assert answer.json()["message"] == 'namespaces "default" is forbidden: this namespace may ' \
        "not be deleted"
    refused = raw("POST", "/api/v1/namespaces", b"k8s\x00\n\x0f\n\x02v1",
                  "application/vnd.kubernetes.protobuf")
    assert refused.status_code == 415 and refused.json()["reason"] == "UnsupportedMediaType"


def test_plain_http_when_tls_is_off(tmp_path):
    with cluster(tmp_path, tls=False) as plain:
        assert plain.url.startswith("http://") and plain.ca_file is None
        api = config.new_client_from_config(str(plain.kubeconfig), context="emulator")
        assert client.VersionApi(api).get_code().minor == "32"


def test_deleting_a_namespace_deletes_what_it_holds(kube, api, raw):
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "doomed"}})
    apply(raw, deployments_path("doomed", "web"), deployment())
    assert eventually(lambda: kube.server.objects("Pod", "doomed"))
    core.delete_namespace("doomed")
    for kind in ("Deployment", "ReplicaSet", "Pod"):
        assert kube.server.objects(kind, "doomed") == []
    assert raw("GET", "/api/v1/namespaces/doomed/configmaps").json()["message"] == \
        'namespaces "doomed" not found'

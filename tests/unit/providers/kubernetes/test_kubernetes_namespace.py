"""`kubernetes_namespace` through the engine against the Kubernetes emulator: plan and apply
create it with its labels, a label change updates it in place, a name change replaces it, refresh
sees it deleted outside flowplan (and plan creates it again), `flowplan import` adopts an
existing one; a token written into the `provider "kubernetes"` block is refused at its line."""

from __future__ import annotations

import pytest
from inline import (InlineConfigError, actions_of, apply_all, close_providers, inline_config,
                    plan_of, render_problems, state_of)

from flowplan import engine
from flowplan.diagnostics import DiagnosticsError
from tests.support.kube import cluster as kube_cluster

CONFIG = '''
provider "kubernetes" {
  kubeconfig = "%(kubeconfig)s"
  context    = "emulator"
}
kubernetes_namespace "web" {
  name   = "%(name)s"
  labels = %(labels)s
}
'''


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    with kube_cluster(tmp_path_factory.mktemp("kube"), ready_after=0.1) as started:
        yield started


@pytest.fixture(autouse=True)
def _providers():
    yield
    close_providers()


def load(directory, kube, name="web-prod", labels='{ team = "web" }'):
    return inline_config(directory, CONFIG % {"kubeconfig": kube.kubeconfig, "name": name,
                                              "labels": labels}, providers={})


def problems_of(action) -> str:
    """The diagnostics `action` fails with, as the CLI renders them."""
    try:
        action()
    except InlineConfigError as error:
        return error.rendered
    except DiagnosticsError as error:
        return render_problems(error.diagnostics, error.texts)
    raise AssertionError("no diagnostics")


def namespace(kube, name):
    found = [n for n in kube.server.objects("Namespace") if n["metadata"]["name"] == name]
    return found[0] if found else None


def test_apply_creates_the_namespace_with_its_labels_then_updates_them_in_place(tmp_path, kube):
    workspace = load(tmp_path, kube, name="ns-create")
    assert actions_of(plan_of(workspace)) == {"kubernetes_namespace.web": "create"}
    apply_all(workspace)
    made = namespace(kube, "ns-create")
    assert made["metadata"]["labels"]["team"] == "web"
    recorded = state_of(workspace).get("kubernetes_namespace.web").attributes
    assert recorded["uid"] == made["metadata"]["uid"] and recorded["labels"] == {"team": "web"}

    workspace = load(tmp_path, kube, name="ns-create", labels='{ team = "shop", tier = "1" }')
    assert actions_of(plan_of(workspace)) == {"kubernetes_namespace.web": "update"}
    apply_all(workspace)
    assert namespace(kube, "ns-create")["metadata"]["labels"]["tier"] == "1"
    assert namespace(kube, "ns-create")["metadata"]["uid"] == made["metadata"]["uid"]
    assert actions_of(plan_of(load(tmp_path, kube, name="ns-create",
                                   labels='{ team = "shop", tier = "1" }'))) == {
        "kubernetes_namespace.web": "no-op"}


def test_a_new_name_replaces_the_namespace(tmp_path, kube):
    apply_all(load(tmp_path, kube, name="ns-old"))
    workspace = load(tmp_path, kube, name="ns-new")
    assert actions_of(plan_of(workspace)) == {"kubernetes_namespace.web": "replace"}
    apply_all(workspace)
    assert namespace(kube, "ns-new") is not None
    assert namespace(kube, "ns-old") is None or \
        namespace(kube, "ns-old").get("metadata", {}).get("deletionTimestamp")


def test_refresh_sees_a_namespace_deleted_outside_flowplan_and_plan_creates_it_again(
        tmp_path, kube):
    from flowplan_providers.kubernetes.cluster import ClusterSettings, connect

    workspace = load(tmp_path, kube, name="ns-gone")
    apply_all(workspace)
    with connect(ClusterSettings(kubeconfig=str(kube.kubeconfig), context="emulator")) as c:
        assert c.delete("v1", "Namespace", "ns-gone", None)
    assert actions_of(plan_of(load(tmp_path, kube, name="ns-gone"))) == {
        "kubernetes_namespace.web": "create"}


def test_a_label_changed_by_hand_comes_back_as_drift(tmp_path, kube):
    from flowplan_providers.kubernetes.cluster import ClusterSettings, connect

    apply_all(load(tmp_path, kube, name="ns-drift"))
    with connect(ClusterSettings(kubeconfig=str(kube.kubeconfig), context="emulator")) as c:
        c.patch("v1", "Namespace", "ns-drift", None,
                {"metadata": {"labels": {"team": "other", "added": "by-hand"}}})
    plan = plan_of(load(tmp_path, kube, name="ns-drift"))
    assert actions_of(plan) == {"kubernetes_namespace.web": "update"}


def test_import_adopts_an_existing_namespace(tmp_path, kube):
    from flowplan_providers.kubernetes.cluster import ClusterSettings, connect

    with connect(ClusterSettings(kubeconfig=str(kube.kubeconfig), context="emulator")) as c:
        c.apply([{"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": "ns-hand", "labels": {"team": "web"}}}],
                namespace="", field_manager="kubectl")
    workspace = load(tmp_path, kube, name="ns-hand")
    engine.import_resource(workspace, "kubernetes_namespace.web", "ns-hand")
    recorded = state_of(workspace).get("kubernetes_namespace.web").attributes
    assert recorded["name"] == "ns-hand" and recorded["labels"] == {"team": "web"}
    assert recorded["uid"]
    assert actions_of(plan_of(load(tmp_path, kube, name="ns-hand"))) == {
        "kubernetes_namespace.web": "no-op"}


def test_importing_a_namespace_the_cluster_lacks_says_so(tmp_path, kube):
    workspace = load(tmp_path, kube, name="ns-none")
    with pytest.raises(DiagnosticsError) as caught:
        engine.import_resource(workspace, "kubernetes_namespace.web", "ns-none")
    assert "the cluster has no namespace 'ns-none'" in render_problems(caught.value.diagnostics)
    assert state_of(workspace).get("kubernetes_namespace.web") is None


def test_an_invalid_namespace_name_is_refused_before_the_cluster_is_asked(tmp_path, kube):
    patches = kube.server.count("PATCH")
    assert "'Web_Prod' is not a namespace name" in problems_of(
        lambda: plan_of(load(tmp_path, kube, name="Web_Prod")))
    assert kube.server.count("PATCH") == patches


def test_a_token_written_into_the_provider_block_is_refused_at_its_line(tmp_path):
    text = problems_of(lambda: plan_of(inline_config(tmp_path, '''
            provider "kubernetes" {
              host  = "https://127.0.0.1:6443"
              token = "eyJhbGciOi-written-in-clear"
            }
            kubernetes_namespace "web" {
              name = "web"
            }
            ''', providers={})))
    assert "`token` is written into the config" in text and "main.hcl:3" in text
    assert "eyJhbGciOi-written-in-clear" not in text.split("\n", 1)[0]


def test_a_token_from_a_sensitive_variable_reaches_the_cluster(tmp_path, kube):
    workspace = inline_config(tmp_path, f'''
        variable "k8s_token" {{
          sensitive = true
        }}
        provider "kubernetes" {{
          host  = "{kube.url}"
          token = var.k8s_token
          ca    = "{kube.ca_file}"
        }}
        kubernetes_namespace "web" {{
          name = "ns-token"
        }}
        ''', variables={"k8s_token": kube.token}, providers={})
    apply_all(workspace)
    assert namespace(kube, "ns-token") is not None
    document = workspace.backend.path.read_text(encoding="utf-8")
    assert kube.token not in document

"""How flowplan reaches a cluster: the `provider "kubernetes"` block and a step's `cluster`
object, kubeconfig files (hostile ones included: malformed, huge, missing contexts, exec plugins),
inline client certificates kept off the disk, and what the cluster answers when it is not the
Kubernetes API (not JSON, a list without items, a server that is not there). No message and no
repr holds the token."""

from __future__ import annotations

import base64
import os
import socket

import pytest

from flowplan.providers import ProviderBlock
from flowplan_providers.kubernetes.cluster import ClusterError, ClusterSettings, connect
from flowplan_providers.kubernetes.kubeconfig import KubeconfigError, read_kubeconfig
from flowplan_providers.kubernetes.settings import read_settings
from tests.support.kube import cluster as kube_cluster

TOKEN = "kube-token-0123456789-never-shown"


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    with kube_cluster(tmp_path_factory.mktemp("kube"), ready_after=0.1) as started:
        yield started


def summaries(config, literal=()):
    settings, problems = read_settings(config, ProviderBlock(config, tuple(literal)))
    return settings, [(p.summary, p.attribute, p.block) for p in problems]


def test_a_provider_block_with_a_kubeconfig_or_a_host_gives_settings():
    settings, problems = summaries({"kubeconfig": "~/.kube/config", "context": "prod"})
    assert problems == [] and settings.context == "prod"
    settings, problems = summaries({"host": "https://10.0.0.1:6443", "token": TOKEN,
                                    "ca": "/etc/ca.pem"})
    assert problems == [] and settings.token == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
    assert summaries({}) == (None, [])


def test_a_token_written_into_the_block_is_refused_at_its_attribute():
    settings, problems = summaries({"host": "https://k:6443", "token": TOKEN}, ("token",))
    assert settings is None
    assert problems == [("`token` is written into the config", "token", "kubernetes")]


@pytest.mark.parametrize("config, attribute, words", [
    ({"kubeconfig": "a", "host": "https://k"}, "host", "not both"),
    ({"context": "prod"}, "kubeconfig", "`context` names a context of `kubeconfig`"),
    ({"host": "ftp://k"}, "host", "is not an API server address"),
    ({"host": "https://user:pw@k"}, "host", "is not an API server address"),
    ({"host": "https://k"}, "token", "`host` needs a `token`"),
    ({"host": "https://k", "token": "a\nb"}, "token", "non-empty line"),
    ({"kubeconfig": ""}, "kubeconfig", "non-empty text"),
    ({"kubeconfig": "a", "insecure_skip_tls_verify": "yes"}, "insecure_skip_tls_verify",
     "true or false"),
])
def test_unusable_settings_are_reported_at_their_attribute(config, attribute, words):
    settings, problems = read_settings(config, ProviderBlock(config, ()))
    assert settings is None and len(problems) == 1
    assert problems[0].attribute == attribute and words in problems[0].detail


def test_an_unknown_argument_is_reported():
    _, problems = summaries({"kubeconfig": "a", "namespace": "x"})
    assert problems == [("Unsupported argument `namespace`", "namespace", "kubernetes")]


def kubeconfig(tmp_path, text):
    path = tmp_path / "config"
    path.write_text(text)
    return path


GOOD = """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: %s}
users:
- name: u
  user: %s
contexts:
- name: prod
  context: {cluster: c, user: u}
current-context: prod
"""
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()


def test_a_kubeconfig_context_gives_the_server_ca_and_token(tmp_path):
    endpoint = read_kubeconfig(kubeconfig(tmp_path, GOOD % (CA, "{token: %s}" % TOKEN)), None)
    assert endpoint.server == "https://127.0.0.1:6443" and endpoint.token == TOKEN
    assert endpoint.ca_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert TOKEN not in repr(endpoint) and endpoint.name == "prod (https://127.0.0.1:6443)"
    (tmp_path / "token").write_text(TOKEN + "\n")
    endpoint = read_kubeconfig(kubeconfig(tmp_path, GOOD % (CA, "{tokenFile: token}")), "prod")
    assert endpoint.token == TOKEN


def test_inline_client_keys_stay_in_memory(tmp_path):
    pem = "-----BEGIN PRIVATE KEY-----\nkey-material-secret\n-----END PRIVATE KEY-----\n"
    user = "{client-certificate-data: %s, client-key-data: %s}" % (
        CA, base64.b64encode(pem.encode()).decode())
    endpoint = read_kubeconfig(kubeconfig(tmp_path, GOOD % (CA, user)), None)
    try:
        assert endpoint.client_key_file.startswith("/proc/self/fd/")
        with open(endpoint.client_key_file) as handle:
            assert handle.read() == pem
        assert os.readlink(endpoint.client_key_file).startswith("/memfd:")
    finally:
        endpoint.close()


@pytest.mark.parametrize("text, words", [
    ("clusters: [\n", "not valid YAML at line 2"),
    ("- just\n- a list\n", "not a kubeconfig"),
    ("contexts: []\n", "no current-context"),
    (GOOD.replace("current-context: prod", "current-context: staging") % (CA, "{}"),
     "has no context 'staging' (it has: prod)"),
    (GOOD.replace("cluster: c, user", "cluster: gone, user") % (CA, "{}"),
     "names cluster 'gone'"),
    (GOOD.replace('"https://127.0.0.1:6443"', "ftp://x") % (CA, "{}"), "no server address"),
    (GOOD % ("not-base64!", "{}"), "certificate-authority-data is not base64"),
    (GOOD % (CA, "{exec: {command: /bin/steal, apiVersion: v1}}"), "exec plugin"),
    (GOOD % (CA, "{auth-provider: {name: gcp}}"), "exec plugin or auth provider"),
    (GOOD % (CA, "{username: a, password: b}"), "basic authentication"),
    (GOOD % (CA, "{client-key-data: %s}" % CA), "both a client certificate and its key"),
    (GOOD % (CA, "{tokenFile: /nonexistent/token}"), "cannot be read"),
    ("clusters: 5\ncurrent-context: x\ncontexts: [{name: x, context: {}}]\n", "not a list"),
])
def test_broken_kubeconfigs_are_reported_naming_the_file_and_never_a_secret(tmp_path, text,
                                                                            words):
    path = kubeconfig(tmp_path, text.replace("{}", "{token: %s}" % TOKEN, 1)
                      if "exec" not in text else text)
    with pytest.raises(KubeconfigError) as caught:
        read_kubeconfig(path, None)
    assert str(caught.value).startswith(f"kubeconfig {path}")
    assert words in str(caught.value) and TOKEN not in str(caught.value)


def test_a_huge_kubeconfig_is_not_read(tmp_path):
    path = tmp_path / "huge"
    path.write_bytes(b"#" * (1024 * 1024 + 10))
    with pytest.raises(KubeconfigError) as caught:
        read_kubeconfig(path, None)
    assert "larger than 1024 KiB" in str(caught.value)


def test_a_server_that_is_not_there_is_named(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
    with pytest.raises(ClusterError) as caught:
        connect(ClusterSettings(host=f"https://127.0.0.1:{port}", token=TOKEN))
    assert f"cannot reach cluster https://127.0.0.1:{port}" in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_wrong_ca_is_a_tls_failure_and_insecure_skip_tls_verify_gets_past_it(kube, tmp_path):
    other = tmp_path / "other-ca.pem"
    with kube_cluster(tmp_path / "other", ready_after=0.1) as second:
        other.write_text(second.ca_file.read_text())
    with pytest.raises(ClusterError) as caught:
        connect(ClusterSettings(host=kube.url, token=kube.token, ca=str(other)))
    assert "cannot reach cluster" in str(caught.value) and "SSL" in str(caught.value)
    with connect(ClusterSettings(host=kube.url, token=kube.token,
                                 insecure_skip_tls_verify=True)) as cluster:
        assert cluster.get("v1", "Namespace", "default", None) is not None


def test_answers_that_are_not_the_kubernetes_api_are_clear_errors(kube):
    with connect(ClusterSettings(kubeconfig=str(kube.kubeconfig), context="emulator")) as c:
        path = "/api/v1/namespaces/default/configmaps/odd"
        kube.server.answer_once("GET", path, 200, b"<html>proxy login</html>", "text/html")
        with pytest.raises(ClusterError) as caught:
            c.get("v1", "ConfigMap", "odd", "default")
        assert "answered something that is not JSON" in str(caught.value)
        kube.server.answer_once("GET", "/api/v1/namespaces/default/configmaps", 200,
                                b'{"kind": "ConfigMapList"}')
        with pytest.raises(ClusterError) as caught:
            c.list("v1", "ConfigMap", "default")
        assert "without items" in str(caught.value)
        kube.server.answer_once("GET", path, 500, b"{not json" + b"x" * 200_000)
        with pytest.raises(ClusterError) as caught:
            c.get("v1", "ConfigMap", "odd", "default")
        assert "answered 500" in str(caught.value) and len(str(caught.value)) < 600
        assert c.get("v1", "ConfigMap", "odd", "default") is None     # the next answer is real


def test_relative_paths_of_the_block_are_taken_from_the_config_directory(tmp_path):
    settings, problems = read_settings({"kubeconfig": "kube/config", "context": "prod"}, None,
                                       tmp_path)
    assert problems == [] and settings.kubeconfig == str(tmp_path / "kube/config")
    settings, _ = read_settings({"host": "https://k:6443", "token": TOKEN, "ca": "ca.pem"},
                                None, tmp_path)
    assert settings.ca == str(tmp_path / "ca.pem")


def test_an_answer_about_another_object_is_refused(kube):
    with connect(ClusterSettings(kubeconfig=str(kube.kubeconfig), context="emulator")) as c:
        kube.server.answer_once(
            "GET", "/apis/apps/v1/namespaces/default/deployments/web", 200,
            b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}}')
        with pytest.raises(ClusterError) as caught:
            c.get("apps/v1", "Deployment", "web", "default")
        assert "answered ConfigMap web when asked for Deployment web" in str(caught.value)


def test_an_oversized_answer_is_not_read_whole(kube, monkeypatch):
    from flowplan_providers.kubernetes import cluster as module

    monkeypatch.setattr(module, "MAX_ANSWER_BYTES", 100_000)
    with connect(ClusterSettings(kubeconfig=str(kube.kubeconfig), context="emulator")) as c:
        kube.server.answer_once("GET", "/api/v1/namespaces/default/configmaps/big", 200,
                                b'{"kind": "ConfigMap", "data": {"a": "' + b"x" * 300_000
                                + b'"}}')
        with pytest.raises(ClusterError) as caught:
            c.get("v1", "ConfigMap", "big", "default")
        assert "answered more than" in str(caught.value)
        assert c.get("v1", "Namespace", "default", None)["metadata"]["name"] == "default"


def test_a_server_that_never_answers_times_out(monkeypatch):
    from flowplan_providers.kubernetes import cluster as module

    monkeypatch.setattr(module, "REQUEST_TIMEOUT", (0.5, 0.5))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)                      # connections are taken, nothing is ever said
        url = f"https://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ClusterError) as caught:
            connect(ClusterSettings(host=url, token=TOKEN))
    assert f"cannot reach cluster {url}" in str(caught.value)
    assert "timed out" in str(caught.value).lower()

"""A Kubernetes API server for tests: the emulator in tests/emulators/kubernetes, started in this
process on a free 127.0.0.1 port, with a kubeconfig whose context "emulator" names its URL, CA
and token.

    with cluster(tmp_path, ready_after=0.2) as kube:
        kubernetes.config.load_kube_config(str(kube.kubeconfig), context="emulator")
        kube.server.objects("Deployment", "default")      # what the cluster holds
        kube.server.expire_token(kube.token)              # then: 401 Unauthorized

Namespaces "default", "kube-system", "kube-public" and "kube-node-lease" exist.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.emulators.kubernetes import KubernetesEmulator


@dataclass
class Cluster:
    url: str                 # https://127.0.0.1:PORT
    token: str               # a valid bearer token
    ca_file: Path | None     # the emulator's CA certificate (PEM); None with tls=False
    kubeconfig: Path         # context "emulator": server, CA, token
    server: Any              # the KubernetesEmulator: objects(kind, namespace), expire_token(),
    #                          set_ready_delay(), answer_once(), requests, stop()


def kubeconfig_text(url: str, token: str, ca_file: Path | None, namespace: str = "default") -> str:
    cluster_lines = [f"    server: {url}"]
    if ca_file is not None:
        cluster_lines.append(f"    certificate-authority: {ca_file}")
    return "\n".join([
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: emulator",
        "  cluster:",
        *cluster_lines,
        "users:",
        "- name: emulator",
        "  user:",
        f"    token: {token}",
        "contexts:",
        "- name: emulator",
        "  context:",
        "    cluster: emulator",
        "    user: emulator",
        f"    namespace: {namespace}",
        "current-context: emulator",
        ""])


def write_kubeconfig(path: Path, text: str) -> Path:
    """Written 0600: it holds the token."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(text)
    return path


def start_cluster(directory: Path, *, ready_after: float = 0.2, tls: bool = True,
                  port: int = 0) -> Cluster:
    directory = Path(directory)
    server = KubernetesEmulator(directory, ready_delay=ready_after, tls=tls, port=port)
    kubeconfig = write_kubeconfig(directory / "kubeconfig",
                                  kubeconfig_text(server.url, server.token, server.ca_file))
    return Cluster(server.url, server.token, server.ca_file, kubeconfig, server)


@contextmanager
def cluster(directory: Path, **options: Any) -> Iterator[Cluster]:
    started = start_cluster(directory, **options)
    try:
        yield started
    finally:
        started.server.stop()

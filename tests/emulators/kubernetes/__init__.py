"""A Kubernetes API server emulator for tests (and for trying examples by hand): the official
Python client and `kubectl apply --server-side` talk to it over HTTPS with a bearer token.

    emulator = KubernetesEmulator(directory, ready_delay=0.2)
    ...
    emulator.stop()

tests/support/kube.py wraps it for tests (`start_cluster`, `cluster`, a kubeconfig file). On its
own: `python -m tests.emulators.kubernetes --port N [--dir DIR]` prints a kubeconfig to use.

Modules: server (HTTP, TLS, tokens, routing), operations (get/list/create/replace/patch/delete),
merging and fieldsets (server-side apply, managedFields, patches), validation, store,
discovery (the kinds served), controller (Deployments, ReplicaSets, StatefulSets, DaemonSets,
Pods), certificates, errors (Status objects), selectors.
"""

from .server import KubernetesEmulator, RecordedRequest

__all__ = ["KubernetesEmulator", "RecordedRequest"]

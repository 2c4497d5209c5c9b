"""The `kubernetes` provider and the `kubectl_apply` step type.

- `cluster`: a connection to one cluster through the official `kubernetes` client (server-side
  apply, get, list, patch, delete, rollout waits), errors as ClusterError;
- `kubeconfig`: kubeconfig files and `host`/`token`/`ca` read into an address and credentials;
- `settings`: the `provider "kubernetes" {}` block and a step's `cluster` object;
- `provider`: KubernetesProvider, the `kubernetes_namespace` resource (plan, apply, read,
  import);
- `manifests`: manifest files of the workspace read, checked and rendered with `${NAME}`
  placeholders;
- `step`: the `kubectl_apply` step type (rolling updates, prune, replace); `strategies` holds
  blue/green and canary.

Installed as flowplan_providers.kubernetes, found through the `kubernetes` entry point of
`flowplan.providers` and the `kubectl_apply` entry point of `flowplan.step_types`.
"""


def __getattr__(name: str):
    if name == "KubernetesProvider":         # imported on use: the step needs no provider
        from flowplan_providers.kubernetes.provider import KubernetesProvider

        return KubernetesProvider
    raise AttributeError(name)

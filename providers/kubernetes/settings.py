"""The `provider "kubernetes" {}` block and a `kubectl_apply` step's `cluster` object, both read
into flowplan_providers.kubernetes.cluster.ClusterSettings.

    provider "kubernetes" {
      kubeconfig = "~/.kube/config"          # and the context to use (else the current one)
      context    = "prod"
      # or: host = "https://10.0.0.1:6443", token = var.k8s_token, ca = "/etc/k8s/ca.pem"
      # insecure_skip_tls_verify = true       # local clusters only
    }

The token must not be written into the config: given as constant text it is refused at its line,
as the github and alicloud providers refuse their secrets (a sensitive variable, set with
FP_VAR_k8s_token, or `env("...")` reads it from outside the files). The settings never show the
token. `ca` is a PEM file's path or PEM text; relative paths in the block are taken from the config
directory. Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flowplan.providers import ProviderBlock, ProviderDiagnostic

from .cluster import ClusterSettings

BLOCK = "kubernetes"
ATTRIBUTES = ("kubeconfig", "context", "host", "token", "ca", "insecure_skip_tls_verify")


def read_settings(config: Mapping[str, Any], block: ProviderBlock | None,
                  base: str | os.PathLike[str] | None = None
                  ) -> tuple[ClusterSettings | None, list[ProviderDiagnostic]]:
    """The settings of the `provider "kubernetes"` block (`config`, revealed; `block` says which
    attributes are constant text) and what is wrong with them, each diagnostic at its attribute.
    Relative `kubeconfig` and `ca` paths are taken from `base` (the config directory). An empty
    block gives (None, []): only something that needs the cluster complains."""
    problems: list[ProviderDiagnostic] = []
    literal = block.literal if block is not None else ()
    for name in sorted(set(config) - set(ATTRIBUTES)):
        problems.append(_problem(f"Unsupported argument `{name}`", name,
                                 "The kubernetes provider takes " +
                                 ", ".join(f"`{a}`" for a in ATTRIBUTES) + "."))
    if "token" in literal:
        problems.append(_problem(
            "`token` is written into the config", "token",
            "A Kubernetes token must not be written into the config files. Declare a variable "
            'with sensitive = true (variable "k8s_token" { sensitive = true }), set it with '
            "FP_VAR_k8s_token, and write `token = var.k8s_token`, or read it with env(\"...\")."))
    if not any(config.get(a) is not None for a in ATTRIBUTES) and not problems:
        return None, []
    settings, problem, attribute = settings_from(relative_to(config, base))
    if problem:
        problems.append(_problem("Invalid kubernetes provider settings", attribute, problem))
    if problems:
        return None, problems
    return settings, []


def settings_from(values: Mapping[str, Any]) -> tuple[ClusterSettings | None, str | None, str]:
    """ClusterSettings from a block or `cluster` object: (settings, None, "") or (None, what is
    wrong, the attribute at fault)."""
    texts: dict[str, str | None] = {}
    for name in ("kubeconfig", "context", "host", "token", "ca"):
        value = values.get(name)
        if value is not None and not (isinstance(value, str) and value):
            return None, f"`{name}` must be non-empty text", name
        texts[name] = value
    insecure = values.get("insecure_skip_tls_verify", False)
    if insecure is None:
        insecure = False
    if not isinstance(insecure, bool):
        return None, "`insecure_skip_tls_verify` must be true or false", \
            "insecure_skip_tls_verify"
    settings = ClusterSettings(kubeconfig=texts["kubeconfig"], context=texts["context"],
                               host=texts["host"], token=texts["token"], ca=texts["ca"],
                               insecure_skip_tls_verify=insecure)
    problem = settings.problem()
    if problem:
        attribute = "host" if texts["host"] else "kubeconfig"
        if texts["token"] is not None and "token" in problem:
            attribute = "token"
        return None, problem, attribute
    if texts["host"] and texts["token"] is None:
        return None, "`host` needs a `token` (a service account's bearer token)", "token"
    return settings, None, ""


def relative_to(values: Mapping[str, Any], base: str | os.PathLike[str] | None
                ) -> dict[str, Any]:
    """`values` with relative `kubeconfig` and `ca` paths made absolute from `base` (`~` and
    PEM text stay as they are)."""
    found = dict(values)
    if base is None:
        return found
    for name in ("kubeconfig", "ca"):
        value = found.get(name)
        if isinstance(value, str) and value and "-----BEGIN" not in value \
                and not os.path.isabs(value) and not value.startswith("~"):
            found[name] = os.path.join(os.fspath(base), value)
    return found


def _problem(summary: str, attribute: str, detail: str) -> ProviderDiagnostic:
    return ProviderDiagnostic(summary, detail=detail, attribute=attribute, block=BLOCK)

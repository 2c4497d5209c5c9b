"""Kubernetes names and labels: namespace names and label keys/values as the API server takes
them, and the `flowplan.dev/step` label value for step addresses of any length or spelling."""

from __future__ import annotations

import re

import pytest

from flowplan_providers.kubernetes.labels import label_problem, name_problem, step_label_value

LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\Z")


@pytest.mark.parametrize("name, ok", [("web", True), ("web-prod-1", True), ("a" * 63, True),
                                      ("a" * 64, False), ("Web", False), ("-web", False),
                                      ("web-", False), ("web.prod", False), ("", False)])
def test_namespace_names(name, ok):
    assert (name_problem(name) is None) == ok


@pytest.mark.parametrize("key, value, ok", [
    ("app", "web", True), ("app.kubernetes.io/name", "web", True), ("team", "", True),
    ("bad key", "x", False), ("/app", "x", False), ("Example.com/app", "x", False),
    ("app", "a b", False), ("app", "x" * 64, False), ("app", 5, False), ("a" * 64, "x", False),
])
def test_label_keys_and_values(key, value, ok):
    assert (label_problem(key, value) is None) == ok


@pytest.mark.parametrize("address", [
    "app.deploy.k8s.apply", "pipe line.stage/x.task.step", "p" * 40 + ".s.t." + "x" * 40,
    "-.-.-.-", "ünïcode.s.t.x",
])
def test_every_step_address_gets_a_valid_distinct_label_value(address):
    value = step_label_value(address)
    assert len(value) <= 63 and LABEL_VALUE.match(value) and value
    assert step_label_value(address + "2") != value
    if len(address) <= 63 and LABEL_VALUE.match(address):
        assert value == address

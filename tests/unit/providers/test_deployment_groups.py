"""The flowplan provider's deployment-group logic that needs no host: the checks of `host` blocks
and the `host_keys` it plans (a table: prior, config, what the last refresh saw -> planned keys,
forcing paths)."""

from __future__ import annotations

import pytest

from flowplan.providers import ValidateRequest
from flowplan_providers.flowplan import FlowplanProvider
from flowplan_providers.flowplan.deployment_groups import (Refreshed, planned_host_keys,
                                                           refreshed_keys)

SENSITIVE = {"$sensitive": "sha256:00:11"}
UNKNOWN = {"$unknown": "known after apply"}
OLD, NEW, OTHER = "SHA256:old", "SHA256:new", "SHA256:other"


def problems(**host) -> list[tuple[str | None, str]]:
    config = {"environment": "daily", "host": {"web1": host}}
    found = FlowplanProvider().validate(ValidateRequest("deployment_group", "daily", config))
    return [(p.attribute, p.summary) for p in found]


# -- validate ---------------------------------------------------------------------------------------

def test_an_ssh_host_with_an_address_and_a_key_file_is_fine():
    assert problems(address="127.0.0.1", key_file="keys/deploy", vars={"APP_PORT": "1"}) == []
    assert problems(address="web1.internal", private_key=SENSITIVE, user="svc.app") == []
    assert problems(connection="local") == []


def test_private_key_in_clear_is_refused_and_a_sensitive_one_is_not():
    assert problems(address="127.0.0.1", private_key="-----BEGIN OPENSSH PRIVATE KEY-----") == [
        ("host.web1.private_key", "`private_key` must be a sensitive value")]
    assert problems(address="127.0.0.1", private_key=UNKNOWN) == [
        ("host.web1.private_key", "`private_key` must be a sensitive value")]
    assert problems(address="127.0.0.1", private_key=SENSITIVE) == []


def test_key_file_and_private_key_together_are_refused():
    assert problems(address="127.0.0.1", key_file="k", private_key=SENSITIVE) == [
        ("host.web1.private_key", "Both `key_file` and `private_key` are set")]


def test_an_ssh_host_needs_an_address_and_a_local_one_no_keys():
    assert problems(user="deploy") == [("host.web1", "Missing `address`")]
    assert problems(connection="local", key_file="k", private_key=SENSITIVE) == [
        ("host.web1.key_file", '`key_file` is not used with connection = "local"'),
        ("host.web1.private_key", '`private_key` is not used with connection = "local"')]


@pytest.mark.parametrize("host, attribute, summary", [
    ({"address": "-oProxyCommand=x"}, "host.web1.address", "Invalid `address`"),
    ({"address": "a b"}, "host.web1.address", "Invalid `address`"),
    ({"address": "admin@host"}, "host.web1.address", "Invalid `address`"),
    ({"address": "127.0.0.1", "user": "a b"}, "host.web1.user", "Invalid `user`"),
    ({"address": "127.0.0.1", "user": "-x"}, "host.web1.user", "Invalid `user`"),
    ({"address": "127.0.0.1", "vars": {"APP-PORT": "1"}}, "host.web1.vars",
     "Invalid name in `vars`"),
    ({"address": "127.0.0.1", "vars": {"1X": "1"}}, "host.web1.vars", "Invalid name in `vars`"),
])
def test_host_values_that_cannot_be_used_are_refused(host, attribute, summary):
    assert problems(**host) == [(attribute, summary)]


def test_unknown_values_are_left_to_apply():
    assert problems(address=UNKNOWN, user=UNKNOWN, connection=UNKNOWN) == []


# -- planned host keys ------------------------------------------------------------------------------

def hosts(**places) -> dict:
    """{"host": {label: {"address": ..., "port": ...}}} from label=(address, port) or "local"."""
    made = {}
    for label, place in places.items():
        made[label] = ({"connection": "local"} if place == "local"
                       else {"connection": "ssh", "address": place[0], "port": place[1]})
    return {"host": made}


A, B = ("127.0.0.1", 2201), ("127.0.0.1", 2202)


@pytest.mark.parametrize("config, prior, refreshed, keys, forcing", [
    # a new group: every SSH host's key is learned at apply, local hosts have none
    (hosts(web1=A, here="local"), None, None, {"web1": UNKNOWN}, ()),
    # unchanged: the pinned key is kept
    (hosts(web1=A), {**hosts(web1=A), "host_keys": {"web1": OLD}}, None, {"web1": OLD}, ()),
    # a host added: learned, the others kept
    (hosts(web1=A, web2=B), {**hosts(web1=A), "host_keys": {"web1": OLD}}, None,
     {"web1": OLD, "web2": UNKNOWN}, ()),
    # a host moved to another port: learned again, no replacement
    (hosts(web1=B), {**hosts(web1=A), "host_keys": {"web1": OLD}}, None, {"web1": UNKNOWN}, ()),
    # a host turned local: no key
    (hosts(web1="local"), {**hosts(web1=A), "host_keys": {"web1": OLD}}, None, {}, ()),
    # a state from before host keys: every key is learned
    (hosts(web1=A), hosts(web1=A), None, {"web1": UNKNOWN}, ()),
    # refresh saw web1 present another key: unknown, and it forces the replacement
    (hosts(web1=A, web2=B), {**hosts(web1=A, web2=B), "host_keys": {"web1": OLD, "web2": OTHER}},
     Refreshed({"web1": OLD, "web2": OTHER}, {}, {"web1": (OLD, NEW)}),
     {"web1": UNKNOWN, "web2": OTHER}, ("host_keys.web1",)),
    # the replacement (planned without a prior) keeps the key of the host that did not change
    (hosts(web1=A, web2=B), None,
     refreshed_keys({**hosts(web1=A, web2=B), "host_keys": {"web1": OLD, "web2": OTHER}},
                    {"web1": (OLD, NEW)}),
     {"web1": UNKNOWN, "web2": OTHER}, ()),
    # ... unless that host moved in the config meanwhile
    (hosts(web1=A, web2=A), None,
     refreshed_keys({**hosts(web1=A, web2=B), "host_keys": {"web1": OLD, "web2": OTHER}},
                    {"web1": (OLD, NEW)}),
     {"web1": UNKNOWN, "web2": UNKNOWN}, ()),
    # a refresh of a key that was pinned again since (another prior key): no replacement
    (hosts(web1=A), {**hosts(web1=A), "host_keys": {"web1": NEW}},
     Refreshed({"web1": OLD}, {}, {"web1": (OLD, NEW)}), {"web1": NEW}, ()),
    # a label that is no simple name forces through the whole map
    ({"host": {"web 1": hosts(x=A)["host"]["x"]}},
     {"host": {"web 1": hosts(x=A)["host"]["x"]}, "host_keys": {"web 1": OLD}},
     Refreshed({"web 1": OLD}, {}, {"web 1": (OLD, NEW)}), {"web 1": UNKNOWN}, ("host_keys",)),
])
def test_planned_host_keys(config, prior, refreshed, keys, forcing):
    assert planned_host_keys(config, prior, refreshed) == (keys, forcing)

"""CrClient and registry_login against the emulator: the temporary login image_build pushes with
(both editions, the host the emulator reports), and what the client does with answers it cannot
trust: HTML, non-JSON, oversized bodies, wrong shapes, a registry domain that is not a host, an
error body the SDK cannot read; throttling ridden out; no key, secret or token in any message."""

from __future__ import annotations

import json

import pytest

import aliyun_fixtures as fx
from flowplan_providers.alicloud.cr import (CrClient, CrError, RegistryLogin, registry_login,
                                            parse_repository_id)
from flowplan_providers.alicloud.ecs import Backoff
from flowplan_providers.alicloud.settings import AlicloudSettings

from acr_fixtures import DOMAIN, EDITIONS, INSTANCE, TOKEN

SECRETS = (fx.ACCESS_KEY, fx.SECRET_KEY, TOKEN)


def block(aliyun, **changes):
    return {"region": fx.REGION, "access_key": fx.ACCESS_KEY, "secret_key": fx.SECRET_KEY,
            "endpoint": aliyun.endpoint, **changes}


def client(aliyun, secret=fx.SECRET_KEY) -> CrClient:
    settings = AlicloudSettings(fx.REGION, fx.ACCESS_KEY, secret, aliyun.endpoint)
    return CrClient(settings, fx.REGION, backoff=Backoff(attempts=3, sleep=lambda s: None))


def applied(instance):
    """An applied acr_repository's state attributes, as image_build reads them."""
    return {"namespace": "team", "name": "app", "instance_id": instance, "registry": DOMAIN,
            "repository_url": f"{DOMAIN}/team/app", "tag_immutability": False}


def failure(call) -> str:
    with pytest.raises(CrError) as raised:
        call()
    text = str(raised.value)
    for secret in SECRETS:
        assert secret not in text
    return text


@EDITIONS
def test_registry_login_hands_out_the_emulators_temporary_login(aliyun, instance):
    login = registry_login(block(aliyun), applied(instance))
    assert (login.host, login.username, login.password) == (DOMAIN, "cr_temp_user", TOKEN)
    assert login.expires_at is not None and login.expires_at.tzinfo is not None
    assert TOKEN not in repr(login) and TOKEN not in str(login)
    assert aliyun.requests[-1].action == ("GetAuthorizationToken" if instance
                                          else "ROA GET /tokens")


def test_registry_login_without_keys_or_state_says_what_is_missing(aliyun):
    text = failure(lambda: registry_login(block(aliyun, secret_key=None), applied(None)))
    assert "no secret_key" in text
    text = failure(lambda: registry_login(block(aliyun), {**applied(None), "registry": None}))
    assert "apply the repository first" in text
    text = failure(lambda: registry_login(block(aliyun, region="not a region"), applied(None)))
    assert "Invalid `region`" in text
    assert aliyun.requests == []


def test_registry_login_with_a_wrong_secret_names_the_keys_not_their_values(aliyun):
    text = failure(lambda: registry_login(block(aliyun, secret_key="wrong-secret-55"),
                                          applied(INSTANCE)))
    assert "refused the credentials" in text and "wrong-secret-55" not in text


def test_a_login_answer_without_a_usable_token_is_refused(aliyun):
    aliyun.answer_raw(json.dumps({"data": {"tempUserName": "u", "authorizationToken": "a\nb"}}))
    text = failure(lambda: registry_login(block(aliyun), applied(None)))
    assert "no usable token" in text


def test_repr_of_a_login_never_shows_the_password():
    login = RegistryLogin("r.example.com", "user", "hunter2-token", None)
    assert "hunter2-token" not in repr(login)


@pytest.mark.parametrize("body, status, expected", [
    ("<!DOCTYPE html><title>Sign in</title>" + "x" * 5000, 200, "the answer is not JSON"),
    ('{"data": ', 200, "the answer is not JSON"),
    ("[1, 2, 3]", 200, "not a JSON object"),
    (json.dumps({"data": {"repo": {"repoNamespace": 7, "repoName": "app"}}}), 200,
     "`repoNamespace` is not a name"),
    (json.dumps({"data": {"repo": {"repoNamespace": "team", "repoName": "app",
                                   "repoType": "SECRET"}}}), 200, "neither PUBLIC nor PRIVATE"),
    (json.dumps({"data": {"repo": {"repoNamespace": "team", "repoName": "app",
                                   "repoType": "PUBLIC",
                                   "repoDomainList": {"public": "evil.com/../x?"}}}}), 200,
     "is not a host name"),
    (json.dumps({"data": None}), 200, "no `data` object"),
    ("<html>Bad gateway</html>" + "y" * 5000, 400, "is not an API error message"),
    (json.dumps({"code": "REPO_NOT_AUTHORIZED", "message": "no access"}), 403,
     "no access (REPO_NOT_AUTHORIZED)"),
])
def test_a_hostile_personal_edition_answer_is_a_clear_error(aliyun, body, status, expected):
    aliyun.answer_raw(body, status=status, content_type="text/html")
    text = failure(lambda: client(aliyun).get_repository(None, "team", "app"))
    assert expected in text and "team/app" in text
    assert "<title>" not in text and "xxxxxxxxxx" not in text and "yyyyyyyyyy" not in text


def test_an_oversized_answer_is_refused_without_being_shown(aliyun):
    aliyun.answer_raw(json.dumps({"data": {"repo": {"summary": "z" * (2 * 1024 * 1024)}}}))
    text = failure(lambda: client(aliyun).get_repository(None, "team", "app"))
    assert "larger than 1024 KiB" in text and "zzzz" not in text


def test_an_enterprise_answer_of_the_wrong_shape_is_a_clear_error(aliyun):
    aliyun.answer_raw(json.dumps({"IsSuccess": True, "RepoId": ["crr-1"]}))
    text = failure(lambda: client(aliyun).get_repository(INSTANCE, "team", "app"))
    assert "`RepoId` is not a name" in text and f"{INSTANCE}:team/app" in text


def test_an_enterprise_registry_domain_that_is_not_a_host_is_refused(aliyun):
    aliyun.cr.instances[INSTANCE].domain = "evil.example.com/path?x=1"
    text = failure(lambda: client(aliyun).registry_host(INSTANCE))
    assert "is not a host name" in text


def test_a_business_error_message_is_shortened_and_keeps_no_key(aliyun):
    aliyun.answer_raw(json.dumps({"IsSuccess": False, "Code": "PARAM_INVALID",
                                  "Message": f"bad {fx.ACCESS_KEY}\n" + "m" * 1000}))
    text = failure(lambda: client(aliyun).get_repository(INSTANCE, "team", "app"))
    assert "PARAM_INVALID" in text and "***" in text and len(text) < 500


def test_throttling_and_server_errors_are_retried(aliyun):
    aliyun.cr.add_repository("team", "app", INSTANCE)
    aliyun.throttle(times=1)
    aliyun.fail(times=1, status=503)
    found = client(aliyun).get_repository(INSTANCE, "team", "app")
    assert found is not None and found.repo_id.startswith("crr-")
    assert aliyun.count("GetRepository") == 3


def test_server_errors_that_last_give_up_with_the_attempts(aliyun):
    aliyun.fail(times=5, status=503)
    text = failure(lambda: client(aliyun).get_repository(None, "team", "app"))
    assert "still after 3 attempts" in text


def test_an_unreachable_endpoint_is_named(aliyun):
    settings = AlicloudSettings(fx.REGION, fx.ACCESS_KEY, fx.SECRET_KEY, "http://127.0.0.1:9")
    cr = CrClient(settings, fx.REGION, backoff=Backoff(attempts=1, sleep=lambda s: None))
    text = failure(lambda: cr.get_repository(None, "team", "app"))
    assert "cannot reach http://127.0.0.1:9" in text


@pytest.mark.parametrize("text, expected", [
    ("team/app", (None, "team", "app")),
    ("cri-abc123:team/app", ("cri-abc123", "team", "app")),
    ("team/app.v2_x-1", (None, "team", "app.v2_x-1")),
])
def test_repository_ids_parse(text, expected):
    assert parse_repository_id(text) == expected

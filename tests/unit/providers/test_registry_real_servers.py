"""The registry client against real docker-registry servers on 127.0.0.1 (Docker Distribution
2.8): open, htpasswd (basic auth) and token auth (Bearer JWTs from tests/emulators/registry_token,
which the registry verifies against its root certificate bundle). A tiny image, made as an OCI
layout without any build tool, is pushed with skopeo so tag_digest has something to find."""

from __future__ import annotations

import base64
import contextlib
import json
import urllib.error
import urllib.request

import pytest

from flowplan_providers.registry.client import (RegistryAccess, RegistryError, Retry,
                                                check_access, tag_digest)
from registry import (registry_problem, skopeo_inspect, skopeo_problem, skopeo_push,
                      start_registry, tiny_oci_layout)
from tests.emulators.registry_token import TokenService

pytestmark = pytest.mark.skipif(bool(registry_problem() or skopeo_problem()),
                                reason=registry_problem() or skopeo_problem() or "")

USERS = {"ci": "s3cret-Pa55", "other": "an0ther-Pa55"}
QUICK = Retry(attempts=1)


@pytest.fixture(scope="module")
def registries(tmp_path_factory):
    """A function of the kind ("open", "htpasswd", "token") giving (registry, access with the
    right credentials); one registry per kind for the module, started on first use."""
    started: dict = {}
    with contextlib.ExitStack() as stack:
        def served(kind: str):
            if kind not in started:
                directory = tmp_path_factory.mktemp(f"registry-{kind}")
                users = None if kind == "open" else USERS
                registry = stack.enter_context(start_registry(
                    directory, users=users, auth=None if kind == "open" else kind))
                started[kind] = (registry, RegistryAccess(
                    registry.url, *(registry.credentials or (None, None)), insecure=True))
            return started[kind]

        yield served


@pytest.fixture(params=["open", "htpasswd", "token"])
def served(request, registries):
    return (request.param, *registries(request.param))


@pytest.fixture(params=["htpasswd", "token"])
def guarded(request, registries):
    return (request.param, *registries(request.param))


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return tiny_oci_layout(tmp_path_factory.mktemp("layout") / "tiny", label="real-servers")


def test_check_access_takes_the_right_credentials(served):
    kind, registry, access = served
    check_access(access, retry=QUICK)
    check_access(access, "team/app", retry=QUICK)


def test_check_access_refuses_a_wrong_password(guarded):
    kind, registry, access = guarded
    wrong = RegistryAccess(access.url, "ci", "not-the-password", insecure=True)
    with pytest.raises(RegistryError) as caught:
        check_access(wrong, "team/app", retry=QUICK)
    assert caught.value.reason == "credentials"
    assert "refused the credentials of 'ci'" in str(caught.value)
    assert "not-the-password" not in str(caught.value) + repr(wrong)


def test_check_access_without_credentials_says_they_are_needed(served):
    kind, registry, access = served
    anonymous = RegistryAccess(access.url, insecure=True)
    if kind == "open":
        check_access(anonymous, retry=QUICK)
        return
    with pytest.raises(RegistryError) as caught:
        check_access(anonymous, retry=QUICK)
    assert caught.value.reason == "credentials" and "needs credentials" in str(caught.value)


def test_tag_digest_finds_what_skopeo_pushed_and_none_before(served, layout):
    kind, registry, access = served
    repository = f"team/{kind}-digest"
    assert tag_digest(access, repository, "1.0", retry=QUICK) is None
    pushed = skopeo_push(layout, f"{registry.host}/{repository}:1.0",
                         credentials=registry.credentials)
    assert pushed.startswith("sha256:")
    assert tag_digest(access, repository, "1.0", retry=QUICK) == pushed
    assert tag_digest(access, repository, "2.0", retry=QUICK) is None
    assert registry.tags(repository) == ["1.0"]
    label = skopeo_inspect(f"{registry.host}/{repository}:1.0", config=True,
                           credentials=registry.credentials)["config"]["Labels"]
    assert label == {"org.flowplan.test": "real-servers"}


def test_a_second_user_reads_the_same_digest(guarded, layout):
    kind, registry, access = guarded
    repository = f"team/{kind}-shared"
    pushed = skopeo_push(layout, f"{registry.host}/{repository}:v1",
                         credentials=registry.credentials)
    other = RegistryAccess(access.url, "other", USERS["other"], insecure=True)
    assert tag_digest(other, repository, "v1", retry=QUICK) == pushed


def test_the_registry_itself_refuses_tokens_from_an_untrusted_signer(tmp_path):
    """The token registry really checks signatures: a token of the right shape from another
    key (another TokenService) is refused, one from its own service is taken."""
    with start_registry(tmp_path / "reg", users=USERS, auth="token") as registry, \
            TokenService(tmp_path / "forger", USERS) as forger:
        access = [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
        url = f"{registry.url}/v2/team/app/tags/list"

        def status(token: str) -> int:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    return answer.status
            except urllib.error.HTTPError as error:
                return error.code

        assert status(forger.token("ci", access)) == 401
        trusted = registry.token_service.token("ci", access)
        assert status(trusted) in (200, 404)        # authorized: the repository may not exist
        header = json.loads(base64.urlsafe_b64decode(trusted.split(".")[0] + "=="))
        assert header["kid"] == registry.token_service.key_id


def test_a_stopped_registry_is_unreachable(tmp_path):
    with start_registry(tmp_path / "gone") as registry:
        access = RegistryAccess(registry.url, insecure=True)
        check_access(access, retry=QUICK)
    with pytest.raises(RegistryError) as caught:
        check_access(access, retry=Retry(attempts=2, sleep=lambda s: None))
    assert caught.value.reason == "unreachable"


def test_https_with_a_certificate_nobody_trusts_needs_insecure(tmp_path, layout):
    with start_registry(tmp_path / "tls", users=USERS, tls=True) as registry:
        assert registry.url.startswith("https://")
        trusting = RegistryAccess(registry.url, "ci", USERS["ci"], insecure=True)
        check_access(trusting, "team/app", retry=QUICK)
        pushed = skopeo_push(layout, f"{registry.host}/team/tls:1",
                             credentials=registry.credentials)
        assert tag_digest(trusting, "team/tls", "1", retry=QUICK) == pushed
        strict = RegistryAccess(registry.url, "ci", USERS["ci"])
        with pytest.raises(RegistryError) as caught:
            check_access(strict, retry=Retry(attempts=3, sleep=lambda s: None))
        message = str(caught.value)
        assert caught.value.reason == "unreachable" and "does not verify" in message
        assert "after" not in message                   # not retried: it would not change


def test_a_token_realm_on_another_host_over_plain_http_gets_no_credentials(registries):
    """The registry reached as `localhost` names its realm at 127.0.0.1: another host name over
    plain HTTP, so the client refuses to send the password there."""
    registry, access = registries("token")
    before = len(registry.token_service.requests)
    elsewhere = RegistryAccess(registry.url.replace("127.0.0.1", "localhost"), "ci",
                               USERS["ci"], insecure=True)
    with pytest.raises(RegistryError) as caught:
        check_access(elsewhere, retry=QUICK)
    assert "plain HTTP on another host" in str(caught.value)
    assert len(registry.token_service.requests) == before

"""The Docker token-auth server of tests/emulators/registry_token on its own: tokens only for
the right basic credentials, the JWT as Docker Distribution verifies it (ES256 over the header
and claims, `kid` the libtrust id of the key in the certificate), and requests it refuses
(malformed Authorization, another service, malformed scopes) without a traceback."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.emulators.registry_token import ISSUER, SERVICE, TokenService, libtrust_key_id


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with TokenService(tmp_path_factory.mktemp("token"), {"ci": "s3cret"}) as running:
        yield running


def ask(server, authorization=None, **query):
    query.setdefault("service", SERVICE)
    request = urllib.request.Request(f"{server.realm}?{urlencode(query, doseq=True)}")
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def basic(name, password):
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_the_right_credentials_get_a_token_distribution_can_verify(service):
    status, answer = ask(service, basic("ci", "s3cret"), scope="repository:team/app:pull,push")
    assert status == 200 and answer["token"] == answer["access_token"]
    header_part, claims_part, signature_part = answer["token"].split(".")
    header, claims = json.loads(decode(header_part)), json.loads(decode(claims_part))
    assert header == {"typ": "JWT", "alg": "ES256", "kid": service.key_id}
    assert claims["iss"] == ISSUER and claims["aud"] == SERVICE and claims["sub"] == "ci"
    assert claims["access"] == [{"type": "repository", "name": "team/app",
                                 "actions": ["pull", "push"]}]
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    certificate = x509.load_pem_x509_certificate(service.certificate.read_bytes())
    key = certificate.public_key()
    assert libtrust_key_id(key) == header["kid"]
    raw = decode(signature_part)
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                     int.from_bytes(raw[32:], "big"))
    key.verify(signature, f"{header_part}.{claims_part}".encode(), ec.ECDSA(hashes.SHA256()))


def test_libtrust_key_ids_are_twelve_groups_of_four_base32_characters(service):
    groups = service.key_id.split(":")
    assert len(groups) == 12 and all(len(g) == 4 and g.isalnum() and g.isupper()
                                     for g in groups)


@pytest.mark.parametrize("authorization", [
    None, basic("ci", "wrong"), basic("nobody", "s3cret"), basic("ci", ""),
])
def test_wrong_or_missing_credentials_get_401(service, authorization):
    status, answer = ask(service, authorization, scope="repository:team/app:pull")
    assert status == 401 and "token" not in answer


@pytest.mark.parametrize("authorization", [
    "Bearer abc", "Basic", "Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "Basic " + "A" * 2000,
])
def test_malformed_authorization_headers_get_400(service, authorization):
    status, answer = ask(service, authorization)
    assert status == 400 and "token" not in answer


@pytest.mark.parametrize("query", [
    {"service": "another-service"},
    {"scope": "registry:catalog:*"},
    {"scope": "repository::pull"},
    {"scope": "repository:" + "a" * 600 + ":pull"},
])
def test_another_service_or_malformed_scopes_get_400(service, query):
    status, answer = ask(service, basic("ci", "s3cret"), **query)
    assert status == 400 and "token" not in answer


def test_actions_other_than_pull_and_push_are_not_granted(service):
    status, answer = ask(service, basic("ci", "s3cret"), scope="repository:team/app:pull,*,delete")
    claims = json.loads(decode(answer["token"].split(".")[1]))
    assert claims["access"][0]["actions"] == ["pull"]


def test_requests_are_recorded_without_passwords(service):
    ask(service, basic("ci", "recorded-password"), scope="repository:team/x:pull")
    recorded = service.requests[-1]
    assert (recorded.account, recorded.scopes, recorded.status) == \
        ("ci", ("repository:team/x:pull",), 401)
    assert "recorded-password" not in repr(service.requests)


def test_anonymous_users_get_pull_only_when_allowed(tmp_path):
    with TokenService(tmp_path, {"ci": "s3cret"}, anonymous=True) as open_service:
        status, answer = ask(open_service, scope="repository:team/app:pull,push")
        assert status == 200
        claims = json.loads(decode(answer["token"].split(".")[1]))
        assert claims["access"][0]["actions"] == ["pull"] and claims["sub"] == ""

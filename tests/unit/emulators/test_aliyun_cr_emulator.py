"""The emulator's Container Registry as the gateway checks it: the ROA `Authorization: acs`
signature of Personal Edition (the real SDK's accepted; a wrong secret, a signature replayed on
another method or path, a changed body, a stale date, a missing header refused), the RPC
signature of Enterprise Edition (a parameter changed after signing refused), required
parameters, the documented codes for duplicates and missing objects, and the standalone
`python -m tests.emulators.aliyun` with a registry host and login of a test's choosing."""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.utils import formatdate
from urllib.parse import urlencode

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcr.request.v20160607 import CreateRepoRequest, GetRepoRequest
from aliyunsdkcr.request.v20181201 import CreateRepositoryRequest, GetRepositoryRequest

import aliyun_fixtures as fx
from tests.emulators.aliyun.signing import (roa_signature, roa_string_to_sign, signature,
                                            string_to_sign)

INSTANCE = "cri-emulator01"


@pytest.fixture
def cr():
    with fx.registry_emulator(instance_id=INSTANCE, domain="127.0.0.1:5000") as emulator:
        emulator.cr.add_repository("team", "app")
        emulator.cr.add_repository("team", "app", INSTANCE)
        yield emulator


def sdk(emulator, secret=fx.SECRET_KEY) -> AcsClient:
    return AcsClient(fx.ACCESS_KEY, secret, fx.REGION, auto_retry=False)


def at(emulator, request):
    request.set_endpoint(emulator.endpoint)
    return request


def get_repo(emulator, namespace="team", name="app"):
    request = at(emulator, GetRepoRequest.GetRepoRequest())
    request.set_RepoNamespace(namespace)
    request.set_RepoName(name)
    return request


def refused(client, request) -> ServerException:
    with pytest.raises(ServerException) as raised:
        client.do_action_with_exception(request)
    return raised.value


def roa(emulator, method, path, *, body=b"", sign_as=None, secret=fx.SECRET_KEY,
        date=None, headers=None, authorization=None):
    """Send a ROA request signed by hand for `sign_as` (method, path, body), default itself."""
    sign_method, sign_path, sign_body = sign_as or (method, path, body)
    given = {"Accept": "application/json", "Date": date or formatdate(usegmt=True),
             "x-acs-signature-method": "HMAC-SHA1", "x-acs-signature-version": "1.0",
             "x-acs-version": "2016-06-07", "x-acs-region-id": fx.REGION}
    if sign_body:
        given["Content-Type"] = "application/json"
        given["Content-MD5"] = base64.b64encode(hashlib.md5(sign_body).digest()).decode()
    given.update(headers or {})
    query = [("RegionId", fx.REGION)]
    text = roa_string_to_sign(sign_method, list(given.items()), sign_path, query)
    given["Authorization"] = authorization if authorization is not None else \
        f"acs {fx.ACCESS_KEY}:{roa_signature(text, secret)}"
    if authorization == "":
        del given["Authorization"]
    request = urllib.request.Request(f"{emulator.endpoint}{path}?{urlencode(query)}",
                                     data=body or None, method=method, headers=given)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_real_sdk_signature_is_accepted_for_both_editions(cr):
    answer = json.loads(sdk(cr).do_action_with_exception(get_repo(cr)))
    assert answer["data"]["repo"]["repoDomainList"]["public"] == "127.0.0.1:5000"
    request = at(cr, GetRepositoryRequest.GetRepositoryRequest())
    request.set_InstanceId(INSTANCE)
    request.set_RepoNamespaceName("team")
    request.set_RepoName("app")
    answer = json.loads(sdk(cr).do_action_with_exception(request))
    assert answer["IsSuccess"] is True and answer["RepoId"].startswith("crr-")


def test_a_hand_signed_roa_request_agrees_with_the_documented_algorithm(cr):
    status, answer = roa(cr, "GET", "/repos/team/app")
    assert status == 200 and answer["data"]["repo"]["repoName"] == "app"


def test_a_wrong_secret_is_refused_on_both_editions(cr):
    error = refused(sdk(cr, "not-the-secret"), get_repo(cr))
    assert (error.get_http_status(), error.get_error_code()) == (400, "SignatureDoesNotMatch")
    request = at(cr, GetRepositoryRequest.GetRepositoryRequest())
    request.set_InstanceId(INSTANCE)
    request.set_RepoId("crr-1")
    error = refused(sdk(cr, "not-the-secret"), request)
    assert error.get_error_code() in ("SignatureDoesNotMatch", "InvalidAccessKeySecret")


def test_a_signature_replayed_on_delete_is_refused_and_nothing_is_deleted(cr):
    status, answer = roa(cr, "DELETE", "/repos/team/app", sign_as=("GET", "/repos/team/app", b""))
    assert (status, answer["Code"]) == (400, "SignatureDoesNotMatch")
    status, answer = roa(cr, "DELETE", "/repos/team/app",
                         sign_as=("DELETE", "/repos/team/other", b""))
    assert (status, answer["Code"]) == (400, "SignatureDoesNotMatch")
    assert cr.cr.repository("team", "app") is not None


def test_a_body_changed_after_signing_is_refused(cr):
    signed = json.dumps({"Repo": {"RepoType": "PRIVATE"}}).encode()
    changed = json.dumps({"Repo": {"RepoType": "PUBLIC"}}).encode()
    status, answer = roa(cr, "POST", "/repos/team/app", body=changed,
                         sign_as=("POST", "/repos/team/app", signed))
    assert (status, answer["Code"]) == (400, "InvalidContentMD5")
    assert cr.cr.repository("team", "app").repo_type == "PRIVATE"


@pytest.mark.parametrize("options, code", [
    ({"authorization": ""}, "IncompleteSignature"),
    ({"authorization": "Bearer abc"}, "IncompleteSignature"),
    ({"authorization": "acs LTAI-unknown:c2ln"}, "InvalidAccessKeyId.NotFound"),
    ({"date": formatdate(time.time() - 3600, usegmt=True)}, "InvalidTimeStamp.Expired"),
    ({"date": "yesterday"}, "InvalidTimeStamp.Format"),
    ({"headers": {"x-acs-signature-method": "HMAC-MD5"}}, "InvalidSignatureMethod"),
    ({"headers": {"x-acs-version": "2018-12-01"}}, "InvalidVersion"),
])
def test_malformed_roa_requests_are_refused_with_the_gateways_codes(cr, options, code):
    status, answer = roa(cr, "GET", "/repos/team/app", **options)
    assert status in (400, 404) and answer["Code"] == code


def test_personal_edition_codes_for_duplicates_and_missing_objects(cr):
    client = sdk(cr)
    error = refused(client, get_repo(cr, name="nope"))
    assert (error.get_http_status(), error.get_error_code()) == (404, "REPO_NOT_EXIST")
    request = at(cr, CreateRepoRequest.CreateRepoRequest())
    request.set_content(json.dumps({"Repo": {"RepoNamespace": "team", "RepoName": "app",
                                             "RepoType": "PRIVATE", "Summary": "s"}}).encode())
    request.set_content_type("application/json")
    error = refused(client, request)
    assert (error.get_http_status(), error.get_error_code()) == (409, "REPO_NAME_EXIST")
    status, answer = roa(cr, "GET", "/namespace/ghost")
    assert (status, answer["Code"]) == (404, "NAMESPACE_NOT_EXIST")
    status, answer = roa(cr, "PUT", "/repos", body=b"not json")
    assert (status, answer["Code"]) == (400, "PARAM_INVALID")


def test_enterprise_edition_codes_come_back_with_is_success_false(cr):
    client = sdk(cr)
    request = at(cr, CreateRepositoryRequest.CreateRepositoryRequest())
    request.set_InstanceId(INSTANCE)
    request.set_RepoNamespaceName("team")
    request.set_RepoName("app")
    request.set_RepoType("PRIVATE")
    request.set_Summary("s")
    answer = json.loads(client.do_action_with_exception(request))
    assert (answer["IsSuccess"], answer["Code"]) == (False, "REPO_NAME_EXIST")
    request.set_InstanceId("cri-nosuch")
    answer = json.loads(client.do_action_with_exception(request))
    assert answer["Code"] == "INSTANCE_NOT_EXIST"
    request = at(cr, GetRepositoryRequest.GetRepositoryRequest())
    request.set_InstanceId(INSTANCE)
    request.set_RepoId("crr-404")
    assert json.loads(client.do_action_with_exception(request))["Code"] == "REPO_NOT_EXIST"


def test_enterprise_edition_required_parameters_are_the_gateways_400(cr):
    request = at(cr, CreateRepositoryRequest.CreateRepositoryRequest())
    request.set_InstanceId(INSTANCE)
    request.set_RepoNamespaceName("team")
    request.set_RepoName("other")
    error = refused(sdk(cr), request)
    assert (error.get_http_status(), error.get_error_code()) == (400, "MissingParameter")
    assert "RepoType" in error.get_error_msg()


def test_an_rpc_parameter_changed_after_signing_is_refused(cr):
    params = {"Action": "DeleteRepository", "Version": "2018-12-01", "Format": "JSON",
              "AccessKeyId": fx.ACCESS_KEY, "SignatureMethod": "HMAC-SHA1",
              "SignatureVersion": "1.0", "SignatureNonce": "n-1", "RegionId": fx.REGION,
              "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "InstanceId": INSTANCE,
              "RepoId": cr.cr.repository("team", "app", INSTANCE).repo_id}
    params["Signature"] = signature(string_to_sign("GET", params.items()), fx.SECRET_KEY)
    params["RepoId"] = "crr-someone-elses"
    try:
        urllib.request.urlopen(f"{cr.endpoint}/?{urlencode(params)}", timeout=10)
        status = 200
    except urllib.error.HTTPError as error:
        status, code = error.code, json.loads(error.read())["Code"]
    assert (status, code) == (400, "SignatureDoesNotMatch")
    assert cr.cr.repository("team", "app", INSTANCE) is not None


def test_the_standalone_emulator_reports_the_registry_host_and_login_it_is_given(tmp_path):
    from pathlib import Path

    from flowplan_providers.alicloud.cr import registry_login

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.aliyun", "--port", str(port),
         "--access-key-id", fx.ACCESS_KEY, "--access-key-secret", fx.SECRET_KEY,
         "--root", str(tmp_path / "homes"), "--cr-instance", INSTANCE,
         "--registry-domain", "127.0.0.1:5000", "--registry-username", "pusher",
         "--registry-password", "pusher-token"],
        cwd=Path(__file__).resolve().parents[3], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert f"http://127.0.0.1:{port}" in process.stdout.readline(), process.stderr.read()
        block = {"region": fx.REGION, "access_key": fx.ACCESS_KEY,
                 "secret_key": fx.SECRET_KEY, "endpoint": f"http://127.0.0.1:{port}"}
        for instance in (INSTANCE, None):
            login = registry_login(block, {"instance_id": instance,
                                           "registry": "127.0.0.1:5000"})
            assert (login.host, login.username, login.password) == (
                "127.0.0.1:5000", "pusher", "pusher-token")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()

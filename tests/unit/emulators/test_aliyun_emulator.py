"""The ECS emulator as the real SDK sees it: signatures checked as the gateway checks them
(positive and negative, with aliyun-python-sdk-core signing), nonces, timestamps, required
parameters, throttling, unknown instances, paging, tags, commands run as local processes, and the
standalone `python -m tests.emulators.aliyun`."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526 import (
    CreateCommandRequest,
    DescribeCloudAssistantStatusRequest,
    DescribeInstancesRequest,
    DescribeInvocationResultsRequest,
    InvokeCommandRequest,
    RunCommandRequest,
    StopInvocationRequest,
    TagResourcesRequest,
)

import aliyun_fixtures as fx
from tests.emulators.aliyun import Instance
from tests.emulators.aliyun.signing import signature, string_to_sign

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def ecs(tmp_path):
    with fx.emulator(tmp_path / "instances") as emulator:
        yield emulator


def client(endpoint: str, key: str = fx.ACCESS_KEY, secret: str = fx.SECRET_KEY) -> AcsClient:
    acs = AcsClient(key, secret, fx.REGION, auto_retry=False)
    acs.add_endpoint(fx.REGION, "ecs", endpoint)
    return acs


def call(acs: AcsClient, request) -> dict:
    return json.loads(acs.do_action_with_exception(request))


def server_error(acs: AcsClient, request) -> ServerException:
    with pytest.raises(ServerException) as caught:
        acs.do_action_with_exception(request)
    return caught.value


def signed_query(params: dict[str, str], secret: str = fx.SECRET_KEY,
                 method: str = "GET") -> str:
    """A query string signed by the emulator's own algorithm, for requests the SDK cannot make
    (a replayed nonce, a missing parameter)."""
    base = {"Format": "JSON", "Version": "2014-05-26", "AccessKeyId": fx.ACCESS_KEY,
            "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
            "SignatureNonce": os.urandom(8).hex(),
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "RegionId": fx.REGION, **params}
    base = {k: v for k, v in base.items() if v is not None}
    base["Signature"] = signature(string_to_sign(method, base.items()), secret)
    return urlencode(base)


def raw_get(endpoint: str, query: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{endpoint}/?{query}", timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def describe(ids=None, tags=None, page=None, size=None):
    request = DescribeInstancesRequest.DescribeInstancesRequest()
    if ids is not None:
        request.set_InstanceIds(json.dumps(ids))
    if tags:
        request.set_Tags([{"Key": k, "Value": v} for k, v in tags.items()])
    if page:
        request.set_PageNumber(page)
    if size:
        request.set_PageSize(size)
    return request


def run_command(script: str, instance: str = "i-web1", **extra):
    request = RunCommandRequest.RunCommandRequest()
    request.set_Type("RunShellScript")
    request.set_CommandContent(script)
    request.set_InstanceIds([instance])
    for name, value in extra.items():
        getattr(request, f"set_{name}")(value)
    return request


def result_of(acs: AcsClient, invoke_id: str, instance: str = "i-web1",
              until=lambda r: r["InvokeRecordStatus"] in ("Finished", "Failed", "Stopped")):
    request = DescribeInvocationResultsRequest.DescribeInvocationResultsRequest()
    request.set_InvokeId(invoke_id)
    request.set_InstanceId(instance)
    deadline = time.monotonic() + 20
    while True:
        answer = call(acs, request)
        result = answer["Invocation"]["InvocationResults"]["InvocationResult"][0]
        if until(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


# -- signatures ---------------------------------------------------------------------------------

def test_requests_signed_by_the_sdk_with_the_right_secret_are_answered_with_documented_shape(ecs):
    answer = call(client(ecs.endpoint), describe(ids=["i-web1"]))
    assert answer["TotalCount"] == 1
    instance = answer["Instances"]["Instance"][0]
    assert instance["InstanceId"] == "i-web1"
    assert instance["RegionId"] == fx.REGION
    assert instance["Status"] == "Running"
    assert instance["VpcAttributes"]["PrivateIpAddress"]["IpAddress"] == ["10.0.0.5"]
    assert instance["Tags"]["Tag"] == [{"TagKey": "app", "TagValue": "web"}]
    assert ecs.requests[-1].code == "" and ecs.requests[-1].method == "POST"


def test_a_request_signed_with_another_secret_is_refused_with_signature_does_not_match(ecs):
    error = server_error(client(ecs.endpoint, secret="not-the-secret"), describe())
    # The gateway puts its string to sign in the message; the SDK, finding it equal to its own,
    # reports the wrong secret as InvalidAccessKeySecret, as it does against the real service.
    assert error.get_http_status() == 400
    assert error.get_error_code() == "InvalidAccessKeySecret"
    assert [r.code for r in ecs.requests] == ["SignatureDoesNotMatch"]


def test_an_unknown_access_key_id_is_invalid_access_key_id_not_found(ecs):
    error = server_error(client(ecs.endpoint, key="LTAI-unknown"), describe())
    assert (error.get_http_status(), error.get_error_code()) == (404,
                                                                 "InvalidAccessKeyId.NotFound")


def test_a_tampered_parameter_breaks_the_signature(ecs):
    query = signed_query({"Action": "DescribeInstances", "PageSize": "10"})
    status, answer = raw_get(ecs.endpoint, query.replace("PageSize=10", "PageSize=20"))
    assert (status, answer["Code"]) == (400, "SignatureDoesNotMatch")
    assert "server string to sign is:GET&%2F&" in answer["Message"]


def test_the_emulators_algorithm_agrees_with_the_sdks_string_to_sign(ecs):
    from aliyunsdkcore.auth.composer import rpc_signature_composer

    params = {"Action": "DescribeInstances", "Version": "2014-05-26", "RegionId": fx.REGION,
              "Tag.1.Key": "a b*~", "Tag.1.Value": "ü/+="}
    url, sdk_text = rpc_signature_composer.get_signed_url(dict(params), fx.ACCESS_KEY,
                                                         fx.SECRET_KEY, "JSON", "GET", {})
    from urllib.parse import parse_qsl, urlsplit

    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    assert string_to_sign("GET", pairs) == sdk_text
    assert signature(sdk_text, fx.SECRET_KEY) == dict(pairs)["Signature"]
    status, answer = raw_get(ecs.endpoint, urlsplit(url).query)
    assert (status, answer["TotalCount"]) == (200, 0)
    status, answer = raw_get(ecs.endpoint, urlsplit(url).query.replace("SignatureNonce=",
                                                                       "SignatureNonce=x"))
    assert answer["Code"] == "SignatureDoesNotMatch"


def test_a_replayed_nonce_is_refused(ecs):
    query = signed_query({"Action": "DescribeInstances"})
    assert raw_get(ecs.endpoint, query)[0] == 200
    status, answer = raw_get(ecs.endpoint, query)
    assert (status, answer["Code"]) == (400, "SignatureNonceUsed")


def test_a_stale_timestamp_is_expired(ecs):
    ecs.clock = lambda: time.time() + 16 * 60
    error = server_error(client(ecs.endpoint), describe())
    assert error.get_error_code() == "InvalidTimeStamp.Expired"


@pytest.mark.parametrize("missing", ["SignatureNonce", "Timestamp", "AccessKeyId", "Action"])
def test_a_missing_common_parameter_is_missing_parameter(ecs, missing):
    status, answer = raw_get(ecs.endpoint, signed_query({"Action": "DescribeInstances",
                                                         missing: None}))
    assert (status, answer["Code"]) == (400, "MissingParameter")
    assert f'"{missing}"' in answer["Message"]


def test_an_unknown_action_and_a_wrong_version_are_refused(ecs):
    status, answer = raw_get(ecs.endpoint, signed_query({"Action": "DescribeNothing"}))
    assert (status, answer["Code"]) == (404, "InvalidAction.NotFound")
    status, answer = raw_get(ecs.endpoint, signed_query({"Action": "DescribeInstances",
                                                         "Version": "2016-01-01"}))
    assert answer["Code"] == "InvalidVersion"


# -- parameters and errors of the actions -------------------------------------------------------

def test_action_parameters_are_checked_with_the_documented_codes(ecs):
    acs = client(ecs.endpoint)
    request = describe()
    request.add_query_param("InstanceIds", "i-web1")          # not a JSON list
    assert server_error(acs, request).get_error_code() == "InvalidInstanceIds.Malformed"
    assert server_error(acs, describe(size=101)).get_error_code() == "InvalidParameter"
    request = RunCommandRequest.RunCommandRequest()
    request.set_Type("RunShellScript")
    request.set_InstanceIds(["i-web1"])
    error = server_error(acs, request)
    assert (error.get_error_code(), error.get_http_status()) == ("MissingParameter", 400)
    assert "CommandContent" in error.get_error_msg()
    bad = run_command("not base64!", ContentEncoding="Base64")
    assert server_error(acs, bad).get_error_code() == "InvalidCmdContent.Malformed"
    assert server_error(acs, run_command("true", Timeout=5)).get_error_code() == \
        "InvalidParameter"


def test_unknown_instances_are_not_found_as_documented(ecs):
    acs = client(ecs.endpoint)
    error = server_error(acs, run_command("true", instance="i-nope"))
    assert (error.get_http_status(), error.get_error_code()) == (404, "InvalidInstance.NotFound")
    status = DescribeCloudAssistantStatusRequest.DescribeCloudAssistantStatusRequest()
    status.set_InstanceIds(["i-nope"])
    assert server_error(acs, status).get_error_code() == "InvalidInstanceId.NotFound"
    tag = TagResourcesRequest.TagResourcesRequest()
    tag.set_ResourceType("instance")
    tag.set_ResourceIds(["i-far"])                  # exists, in another region
    tag.set_Tags([{"Key": "k", "Value": "v"}])
    assert server_error(acs, tag).get_error_code() == "InvalidResourceId.NotFound"
    # DescribeInstances leaves unknown ids out rather than failing, as the real API does
    assert call(acs, describe(ids=["i-nope", "i-web2"]))["TotalCount"] == 1


def test_throttling_is_answered_as_configured_then_requests_pass_again(ecs):
    ecs.throttle(times=1, action="DescribeInstances")
    ecs.throttle(times=1, status=429)
    acs = client(ecs.endpoint)
    error = server_error(acs, describe())
    assert (error.get_http_status(), error.get_error_code()) == (400, "Throttling.User")
    assert server_error(acs, describe()).get_http_status() == 429
    assert call(acs, describe())["TotalCount"] == 3


def test_describe_instances_pages_and_filters_by_tags_within_the_region(ecs):
    acs = client(ecs.endpoint)
    first = call(acs, describe(size=2))
    second = call(acs, describe(size=2, page=2))
    assert first["TotalCount"] == 3 and [i["InstanceId"] for i in first["Instances"]["Instance"]
                                         ] == ["i-db1", "i-web1"]
    assert [i["InstanceId"] for i in second["Instances"]["Instance"]] == ["i-web2"]
    web = call(acs, describe(tags={"app": "web"}))
    assert [i["InstanceId"] for i in web["Instances"]["Instance"]] == ["i-web1", "i-web2"]


def test_tag_resources_tags_instances_that_describe_instances_then_finds(ecs):
    acs = client(ecs.endpoint)
    tag = TagResourcesRequest.TagResourcesRequest()
    tag.set_ResourceType("instance")
    tag.set_ResourceIds(["i-web1", "i-db1"])
    tag.set_Tags([{"Key": "flowplan:deployment-group", "Value": "daily"}])
    call(acs, tag)
    found = call(acs, describe(tags={"flowplan:deployment-group": "daily"}))
    assert sorted(i["InstanceId"] for i in found["Instances"]["Instance"]) == ["i-db1", "i-web1"]
    tag.set_Tags([{"Key": "aliyun:reserved", "Value": "x"}])
    assert server_error(acs, tag).get_error_code() == "InvalidTagKey.Malformed"


# -- Cloud Assistant ----------------------------------------------------------------------------

def test_run_command_runs_a_real_process_in_the_instances_home(ecs):
    acs = client(ecs.endpoint)
    script = "echo hello > greeting.txt; echo \"home=$HOME\"; echo oops >&2; exit 3"
    answer = call(acs, run_command(base64.b64encode(script.encode()).decode(),
                                   ContentEncoding="Base64", Username="admin"))
    assert answer["InvokeId"].startswith("t-") and answer["CommandId"].startswith("c-")
    result = result_of(acs, answer["InvokeId"])
    assert (result["InvocationStatus"], result["InvokeRecordStatus"], result["ExitCode"]) == \
        ("Failed", "Finished", 3)
    assert result["ErrorCode"] == "ExitCodeNonzero" and result["Username"] == "admin"
    output = base64.b64decode(result["Output"]).decode()
    assert f"home={ecs.home('i-web1')}" in output and "oops" in output
    assert (ecs.home("i-web1") / "greeting.txt").read_text() == "hello\n"


def test_create_and_invoke_command_runs_on_every_instance_named(ecs):
    acs = client(ecs.endpoint)
    create = CreateCommandRequest.CreateCommandRequest()
    create.set_Name("hello")
    create.set_Type("RunShellScript")
    create.set_CommandContent("hostname > /dev/null; echo ran > ran.txt")
    command_id = call(acs, create)["CommandId"]
    invoke = InvokeCommandRequest.InvokeCommandRequest()
    invoke.set_CommandId(command_id)
    invoke.set_InstanceIds(["i-web1", "i-web2"])
    invoke_id = call(acs, invoke)["InvokeId"]
    for instance in ("i-web1", "i-web2"):
        assert result_of(acs, invoke_id, instance)["InvocationStatus"] == "Success"
        assert (ecs.home(instance) / "ran.txt").read_text() == "ran\n"
    invoke.set_CommandId("c-unknown")
    assert server_error(acs, invoke).get_error_code() == "InvalidCommandId.NotFound"


def test_stop_invocation_kills_the_running_command(ecs):
    acs = client(ecs.endpoint)
    invoke_id = call(acs, run_command("echo started; sleep 30; echo never > late.txt"))["InvokeId"]
    result_of(acs, invoke_id, until=lambda r: r["InvokeRecordStatus"] == "Running")
    stop = StopInvocationRequest.StopInvocationRequest()
    stop.set_InvokeId(invoke_id)
    stop.set_InstanceIds(["i-web1"])
    call(acs, stop)
    result = result_of(acs, invoke_id)
    assert (result["InvocationStatus"], result["InvokeRecordStatus"]) == ("Stopped", "Stopped")
    assert not (ecs.home("i-web1") / "late.txt").exists()


def test_commands_are_refused_on_stopped_instances_and_offline_agents(ecs):
    ecs.add_instance(Instance("i-stopped", fx.REGION, "10.0.0.20", status="Stopped"))
    ecs.add_instance(Instance("i-noagent", fx.REGION, "10.0.0.21", cloud_assistant=False))
    acs = client(ecs.endpoint)
    assert server_error(acs, run_command("true", "i-stopped")).get_error_code() == \
        "IncorrectInstanceStatus"
    assert server_error(acs, run_command("true", "i-noagent")).get_error_code() == \
        "ClientNotOnline"


# -- on its own ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_standalone_emulator_accepts_its_key_pair_only(tmp_path):
    instances = tmp_path / "instances.json"
    instances.write_text(json.dumps([{"id": "i-cli1", "region": "cn-beijing",
                                      "private_ip": "10.2.0.5", "tags": {"app": "cli"},
                                      "status": "Running"}]))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.aliyun", "--port", str(port),
         "--access-key-id", "LTAI-cli", "--access-key-secret", "cli-secret",
         "--instances", str(instances), "--root", str(tmp_path / "homes")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line, process.stderr.read()
        endpoint = f"http://127.0.0.1:{port}"
        good = AcsClient("LTAI-cli", "cli-secret", "cn-beijing", auto_retry=False)
        good.add_endpoint("cn-beijing", "ecs", endpoint)
        found = call(good, describe())
        assert [i["InstanceId"] for i in found["Instances"]["Instance"]] == ["i-cli1"]
        wrong = AcsClient("LTAI-cli", "another-secret", "cn-beijing", auto_retry=False)
        wrong.add_endpoint("cn-beijing", "ecs", endpoint)
        assert server_error(wrong, describe()).get_http_status() == 400
        status, answer = raw_get(endpoint, signed_query(
            {"Action": "DescribeInstances", "AccessKeyId": "LTAI-cli", "RegionId": "cn-beijing"},
            secret="another-secret"))
        assert (status, answer["Code"]) == (400, "SignatureDoesNotMatch")
        unknown = AcsClient("LTAI-other", "cli-secret", "cn-beijing", auto_retry=False)
        unknown.add_endpoint("cn-beijing", "ecs", endpoint)
        assert server_error(unknown, describe()).get_error_code() == \
            "InvalidAccessKeyId.NotFound"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()

"""EcsClient: the ECS API calls flowplan makes, on aliyun-python-sdk-ecs and aliyun-python-sdk-core.

What it adds to the SDK:

- errors as `EcsError` with a message fit for a diagnostic or a step log (the API's code, its
  message, the action and region; never a key, nor the SDK's string to sign);
- credentials refused (a wrong secret, an unknown or disabled key id) is `CredentialsRefused`,
  raised at the first answer: it is never retried, so a wrong key costs one request, not a retry
  storm;
- throttling (`Throttling*`), 5xx answers and failed connections are retried with bounded,
  jittered exponential backoff (`Backoff`: 5 attempts, 0.5 s doubling to at most 8 s by default);
  the SDK's own retries are off, so this is the only retry policy;
- paging: DescribeInstances by ids (100 per call) or tags (100 per page), Cloud Assistant status
  by 50 ids per call.

Every request goes to `settings.endpoint` when one is set (the emulator in tests: `http://127.0.0.1:
PORT`), otherwise to the SDK's endpoint for the region over https.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
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
    UntagResourcesRequest,
)

from .settings import AlicloudSettings

# The SDK logs every error answer at ERROR with the string it signed: flowplan reports errors
# itself, and core never prints.
_SDK_LOG = logging.getLogger("aliyunsdkcore")
_SDK_LOG.addHandler(logging.NullHandler())
_SDK_LOG.propagate = False

CREDENTIAL_CODES = {
    "SignatureDoesNotMatch": "the signature does not match: secret_key is not the secret of "
                             "access_key",
    "InvalidAccessKeySecret": "secret_key is not the secret of access_key",
    "InvalidAccessKeyId.NotFound": "access_key is not a known AccessKey ID",
    "InvalidAccessKeyId.Inactive": "access_key is disabled",
    "Forbidden.AccessKeyDisabled": "access_key is disabled",
    "IncompleteSignature": "the request signature is incomplete",
    "InvalidSecurityToken.Expired": "the security token has expired",
}
THROTTLING = ("Throttling",)          # Throttling, Throttling.User, Throttling.Api, ...
TRANSIENT = {"ServiceUnavailable", "InternalError", "UnknownError", "SDK.HttpError",
             "SDK.ServerUnreachable"}


class EcsError(Exception):
    """A failed ECS call; the message names the action, the code and the region."""

    def __init__(self, action: str, code: str, message: str, *, region: str = "",
                 status: int | None = None, request_id: str | None = None):
        self.action, self.code, self.api_message = action, code, message
        self.region, self.status, self.request_id = region, status, request_id
        where = f" in {region}" if region else ""
        super().__init__(f"{action}{where} failed: {message} ({code})")


class CredentialsRefused(EcsError):
    """Alibaba Cloud refused the access key pair; retrying cannot help."""

    def __init__(self, action: str, code: str, *, region: str = "", status: int | None = None):
        why = CREDENTIAL_CODES.get(code, "the credentials were refused")
        super().__init__(action, code, f"Alibaba Cloud refused the credentials of the provider "
                                       f"\"alicloud\" block: {why}. Check access_key and "
                                       "secret_key", region=region, status=status)
        self.args = (f"Alibaba Cloud refused the credentials of the provider \"alicloud\" block: "
                     f"{why} ({code}). Check access_key and secret_key.",)


@dataclass(frozen=True)
class Backoff:
    attempts: int = 5               # calls in all, the first included
    first: float = 0.5              # seconds before the first retry
    ceiling: float = 8.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, retry: int) -> float:
        """Seconds before retry number `retry` (1-based): doubling, capped, with jitter."""
        base = min(self.ceiling, self.first * 2 ** (retry - 1))
        return base / 2 + random.uniform(0, base / 2)


@dataclass(frozen=True)
class Instance:
    instance_id: str
    region: str
    private_ip: str
    status: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvocationResult:
    instance_id: str
    status: str                     # InvocationStatus: Pending, Running, Success, Failed, ...
    record_status: str              # InvokeRecordStatus: Running, Finished, Failed, Stopped...
    exit_code: int | None
    output: bytes                   # decoded from Base64
    dropped: int
    error_code: str
    error_info: str

    @property
    def finished(self) -> bool:
        return self.record_status in ("Finished", "Failed", "Stopped") or \
            self.status in ("Success", "Failed", "Stopped", "Invalid", "Aborted", "Cancelled",
                            "Error", "Timeout")


class EcsClient:
    """ECS calls in one region with one access key pair; safe to share between threads."""

    def __init__(self, settings: AlicloudSettings, region: str, *,
                 backoff: Backoff = Backoff(), timeout: float = 20.0):
        if not settings.access_key or not settings.secret_key:
            raise ValueError("EcsClient needs access_key and secret_key")
        self.region = region
        self.endpoint = settings.endpoint
        self.backoff = backoff
        self._client = AcsClient(settings.access_key, settings.secret_key, region,
                                 auto_retry=False, connect_timeout=5, timeout=int(timeout))
        self._lock = threading.Lock()
        self.calls = 0                  # requests sent, retries included

    # -- the call, its errors and retries --------------------------------------------------------

    def _call(self, request: Any) -> dict[str, Any]:
        action = request.get_action_name()
        if self.endpoint:
            request.set_endpoint(self.endpoint)
        else:
            request.set_protocol_type("https")
        retry = 0
        while True:
            with self._lock:
                self.calls += 1
            try:
                body = self._client.do_action_with_exception(request)
                return json.loads(body)
            except ServerException as error:
                code, status = error.get_error_code(), error.get_http_status()
                if code in CREDENTIAL_CODES:
                    raise CredentialsRefused(action, code, region=self.region,
                                             status=status) from None
                transient = code.startswith(THROTTLING) or code in TRANSIENT or \
                    (status is not None and status >= 500)
                failure = EcsError(action, code, error.get_error_msg(), region=self.region,
                                   status=status, request_id=error.get_request_id())
            except ClientException as error:
                code = error.get_error_code()
                transient = code in TRANSIENT
                where = self.endpoint or f"the ECS endpoint of {self.region}"
                failure = EcsError(action, code, f"cannot reach {where}: "
                                                 f"{error.get_error_msg()}", region=self.region)
            except ValueError:
                raise EcsError(action, "InvalidResponse", "the answer is not JSON",
                               region=self.region) from None
            retry += 1
            if not transient or retry >= self.backoff.attempts:
                if transient:
                    failure.args = (f"{failure.args[0]}, still after {retry} attempts",)
                raise failure
            self.backoff.sleep(self.backoff.delay(retry))

    # -- instances -----------------------------------------------------------------------------

    def describe_instances(self, *, ids: Iterable[str] | None = None,
                           tags: Mapping[str, str] | None = None) -> dict[str, Instance]:
        """Instances of the region by id, having all `tags` (both: ids that have the tags).
        Ids that do not exist are left out, as DescribeInstances leaves them out."""
        found: dict[str, Instance] = {}
        chunks = _chunks(sorted(set(ids)), 100) if ids is not None else [None]
        for chunk in chunks:
            if chunk == []:
                continue
            page = 1
            while True:
                request = DescribeInstancesRequest.DescribeInstancesRequest()
                request.set_PageSize(100)
                request.set_PageNumber(page)
                if chunk is not None:
                    request.set_InstanceIds(json.dumps(chunk))
                if tags:
                    request.set_Tags([{"Key": k, "Value": v} for k, v in sorted(tags.items())])
                answer = self._call(request)
                items = answer.get("Instances", {}).get("Instance", [])
                for item in items:
                    instance = _instance(item, self.region)
                    found[instance.instance_id] = instance
                if not items or page * 100 >= int(answer.get("TotalCount", 0)):
                    break
                page += 1
        return found

    def tag(self, ids: Iterable[str], key: str, value: str) -> None:
        for chunk in _chunks(sorted(set(ids)), 50):
            request = TagResourcesRequest.TagResourcesRequest()
            request.set_ResourceType("instance")
            request.set_ResourceIds(chunk)
            request.set_Tags([{"Key": key, "Value": value}])
            self._call(request)

    def untag(self, ids: Iterable[str], key: str) -> None:
        for chunk in _chunks(sorted(set(ids)), 50):
            request = UntagResourcesRequest.UntagResourcesRequest()
            request.set_ResourceType("instance")
            request.set_ResourceIds(chunk)
            request.set_TagKeys([key])
            self._call(request)

    def cloud_assistant_status(self, ids: Iterable[str]) -> dict[str, bool]:
        """Whether the Cloud Assistant agent of each instance is online."""
        status: dict[str, bool] = {}
        for chunk in _chunks(sorted(set(ids)), 50):
            request = DescribeCloudAssistantStatusRequest.DescribeCloudAssistantStatusRequest()
            request.set_InstanceIds(chunk)
            request.set_PageSize(50)
            answer = self._call(request)
            for item in answer.get("InstanceCloudAssistantStatusSet", {}).get(
                    "InstanceCloudAssistantStatus", []):
                status[item["InstanceId"]] = str(item.get("CloudAssistantStatus")).lower() \
                    == "true"
        return status

    # -- Cloud Assistant -------------------------------------------------------------------------

    def run_command(self, instance_id: str, script: str, *, timeout: int,
                    username: str | None = None, working_dir: str | None = None,
                    name: str = "flowplan") -> str:
        """Start `script` (bash) on one instance with RunCommand; the invocation id."""
        request = RunCommandRequest.RunCommandRequest()
        request.set_Type("RunShellScript")
        request.set_ContentEncoding("Base64")
        request.set_CommandContent(base64.b64encode(script.encode("utf-8")).decode("ascii"))
        request.set_InstanceIds([instance_id])
        request.set_Timeout(timeout)
        request.set_Name(name)
        if username:
            request.set_Username(username)
        if working_dir:
            request.set_WorkingDir(working_dir)
        return self._call(request)["InvokeId"]

    def create_command(self, script: str, *, name: str, timeout: int,
                       working_dir: str | None = None) -> str:
        request = CreateCommandRequest.CreateCommandRequest()
        request.set_Name(name)
        request.set_Type("RunShellScript")
        request.set_ContentEncoding("Base64")
        request.set_CommandContent(base64.b64encode(script.encode("utf-8")).decode("ascii"))
        request.set_Timeout(timeout)
        if working_dir:
            request.set_WorkingDir(working_dir)
        return self._call(request)["CommandId"]

    def invoke_command(self, command_id: str, instance_ids: Iterable[str], *,
                       username: str | None = None) -> str:
        request = InvokeCommandRequest.InvokeCommandRequest()
        request.set_CommandId(command_id)
        request.set_InstanceIds(list(instance_ids))
        if username:
            request.set_Username(username)
        return self._call(request)["InvokeId"]

    def invocation_result(self, invoke_id: str, instance_id: str) -> InvocationResult | None:
        request = DescribeInvocationResultsRequest.DescribeInvocationResultsRequest()
        request.set_InvokeId(invoke_id)
        request.set_InstanceId(instance_id)
        request.set_ContentEncoding("Base64")
        answer = self._call(request)
        results = answer.get("Invocation", {}).get("InvocationResults", {}).get(
            "InvocationResult", [])
        for item in results:
            if item.get("InstanceId") == instance_id:
                exit_code = item.get("ExitCode")
                return InvocationResult(
                    instance_id=instance_id, status=item.get("InvocationStatus", ""),
                    record_status=item.get("InvokeRecordStatus", ""),
                    exit_code=int(exit_code) if exit_code is not None else None,
                    output=base64.b64decode(item.get("Output") or ""),
                    dropped=int(item.get("Dropped") or 0),
                    error_code=item.get("ErrorCode") or "",
                    error_info=item.get("ErrorInfo") or "")
        return None

    def stop_invocation(self, invoke_id: str, instance_ids: Iterable[str]) -> None:
        request = StopInvocationRequest.StopInvocationRequest()
        request.set_InvokeId(invoke_id)
        request.set_InstanceIds(list(instance_ids))
        self._call(request)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


def _instance(item: dict[str, Any], region: str) -> Instance:
    addresses = (item.get("VpcAttributes", {}).get("PrivateIpAddress", {}).get("IpAddress")
                 or item.get("InnerIpAddress", {}).get("IpAddress") or [""])
    tags = {t.get("TagKey", ""): t.get("TagValue", "")
            for t in item.get("Tags", {}).get("Tag", [])}
    return Instance(item["InstanceId"], item.get("RegionId") or region, addresses[0],
                    item.get("Status", ""), tags)

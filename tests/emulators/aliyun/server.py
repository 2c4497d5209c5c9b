"""EcsEmulator: an HTTP server answering the ECS RPC API (version 2014-05-26), and Container
Registry (tests.emulators.aliyun.container_registry: Enterprise Edition RPC 2018-12-01, Personal
Edition ROA 2016-06-07), as the real gateway does for the requests aliyun-python-sdk-core sends.
One endpoint answers both products, as the `endpoint` of a `provider "alicloud"` block is one URL.

Every request goes through the gateway's checks first, in its order: the common parameters are
present (MissingParameter) and well formed (SignatureMethod HMAC-SHA1, SignatureVersion 1.0, an ISO
8601 `Timestamp` within 15 minutes, `Version` 2014-05-26 or 2018-12-01), the key id is known
(InvalidAccessKeyId.NotFound, HTTP 404), the signature matches (SignatureDoesNotMatch, HTTP 400,
whose message carries the server's string to sign as the real one does, so the SDK can tell a wrong
secret), and the nonce was not seen before (SignatureNonceUsed). Faults a test queues (throttling,
5xx) are answered next; then the action checks its own parameters and answers with the documented
response shape.

Actions: DescribeInstances, TagResources, UntagResources, DescribeCloudAssistantStatus, RunCommand,
CreateCommand, InvokeCommand, DescribeInvocationResults, StopInvocation. Commands run as local
processes (tests.emulators.aliyun.commands). Every request is recorded (`requests`), so a test can
count what a client sent.

ROA requests (any path but `/`) are checked the ROA way: `Authorization: acs ID:SIGNATURE`
present and well formed (IncompleteSignature), the key id known, `x-acs-signature-method`
HMAC-SHA1 and `x-acs-signature-version` 1.0, an RFC 2616 `Date` within 15 minutes,
`x-acs-version` 2016-06-07, `Content-MD5` matching the body, then the signature
(SignatureDoesNotMatch). They are recorded with the action `ROA METHOD PATH`.

`answer_raw` makes the next requests get a canned raw answer (a test of what a client does with
HTML, a truncated or an oversized body).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import uuid
from calendar import timegm
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, unquote, urlsplit

from .commands import Invocation, Record, Runner
from .container_registry import CR_VERSION, PERSONAL_VERSION, ContainerRegistry, CrError
from .signing import (roa_signature, roa_string_to_sign, signature, signature_matches,
                      string_to_sign)

VERSION = "2014-05-26"
TIMESTAMP_WINDOW = 15 * 60
MAX_BODY = 1024 * 1024
MAX_CONTENT = 18 * 1024            # CommandContent, after Base64 encoding
COMMON = ("Action", "Version", "AccessKeyId", "SignatureMethod", "SignatureVersion",
          "SignatureNonce", "Timestamp", "Signature")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


def _missing(name: str) -> ApiError:
    return ApiError(400, "MissingParameter",
                    f'The input parameter "{name}" that is mandatory for processing this '
                    "request is not supplied.")


def _invalid(name: str, why: str = "") -> ApiError:
    return ApiError(400, "InvalidParameter",
                    f'The specified parameter "{name}" is not valid.{" " + why if why else ""}')


@dataclass
class Instance:
    instance_id: str
    region: str
    private_ip: str
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "Running"                # Pending, Running, Starting, Stopping, Stopped
    cloud_assistant: bool = True           # the agent is installed and online
    name: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Instance":
        return cls(instance_id=data.get("id") or data["instance_id"], region=data["region"],
                   private_ip=data["private_ip"], tags=dict(data.get("tags", {})),
                   status=data.get("status", "Running"),
                   cloud_assistant=bool(data.get("cloud_assistant", True)),
                   name=data.get("name", ""))


@dataclass
class Fault:
    """A canned error answered instead of the next `times` matching requests (after the
    signature check, as the real gateway throttles authenticated callers)."""

    code: str
    status: int
    message: str
    action: str | None = None              # None: any action
    times: int = 1


@dataclass
class RawAnswer:
    status: int
    body: bytes
    content_type: str = "application/json;charset=utf-8"
    times: int = 1


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    action: str
    parameters: dict[str, str]
    status: int
    code: str                              # "" for a success


class EcsEmulator:
    """The emulated ECS API on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(self, credentials: dict[str, str], instances: list[Instance] = (),
                 root: Path | None = None, host: str = "127.0.0.1", port: int = 0,
                 regions: tuple[str, ...] = (), registry: ContainerRegistry | None = None):
        import tempfile

        self.credentials = dict(credentials)
        self.instances: dict[str, Instance] = {i.instance_id: i for i in instances}
        self.regions = set(regions) | {i.region for i in instances}
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="ecs-"))
        self.runner = Runner(self.root)
        self.faults: list[Fault] = []
        self.raw_answers: list[RawAnswer] = []
        self.cr = registry if registry is not None else ContainerRegistry(
            region=sorted(self.regions)[0] if self.regions else "cn-hangzhou")
        self.requests: list[RecordedRequest] = []
        self.commands: dict[str, dict[str, Any]] = {}
        self.invocations: dict[str, Invocation] = {}
        self.clock: Callable[[], float] = time.time
        self._nonces: dict[str, float] = {}
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> "EcsEmulator":
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="ecs emulator")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.runner.stop_all(list(self.invocations.values()))
        self._server.shutdown()
        self._server.server_close()
        if self._own_root:
            import shutil

            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "EcsEmulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls ----------------------------------------------------------------------

    def add_instance(self, instance: Instance) -> None:
        with self._lock:
            self.instances[instance.instance_id] = instance
            self.regions.add(instance.region)

    def remove_instance(self, instance_id: str) -> None:
        """The instance is released, as if deleted in the console."""
        with self._lock:
            self.instances.pop(instance_id, None)

    def throttle(self, times: int = 1, action: str | None = None, status: int = 400) -> None:
        self.faults.append(Fault("Throttling.User", status,
                                 "Request was denied due to user flow control.", action, times))

    def fail(self, times: int = 1, action: str | None = None, status: int = 503,
             code: str = "ServiceUnavailable",
             message: str = "The request has failed due to a temporary failure of the server."
             ) -> None:
        self.faults.append(Fault(code, status, message, action, times))

    def answer_raw(self, body: bytes | str, status: int = 200, times: int = 1,
                   content_type: str = "application/json;charset=utf-8") -> None:
        """Answer the next `times` requests with `body` as it is, before any check."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.raw_answers.append(RawAnswer(status, data, content_type, times))

    def home(self, instance_id: str) -> Path:
        """The directory an instance's commands run in (their HOME)."""
        return self.runner.home(instance_id)

    def count(self, action: str | None = None) -> int:
        return sum(1 for r in self.requests if action is None or r.action == action)

    # -- HTTP ---------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "Tengine"
            sys_version = ""

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_PUT(self) -> None:
                self._answer("PUT")

            def do_DELETE(self) -> None:
                self._answer("DELETE")

            def _answer(self, method: str) -> None:
                split = urlsplit(self.path)
                pairs = parse_qsl(split.query, keep_blank_values=True)
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._send(413, {"Code": "InvalidParameter",
                                     "Message": "The request body is too large."})
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                raw = emulator._raw_answer()
                if raw is not None:
                    self._send_bytes(raw.status, raw.body, raw.content_type)
                    return
                if split.path not in ("", "/"):
                    status, answer = emulator.handle_roa(method, unquote(split.path), pairs,
                                                         list(self.headers.items()), body)
                    self._send(status, answer)
                    return
                kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if body and kind == "application/x-www-form-urlencoded":
                    pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                status, answer = emulator.handle(method, pairs)
                self._send(status, answer)

            def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send(self, status: int, answer: dict[str, Any]) -> None:
                answer.setdefault("RequestId", str(uuid.uuid4()).upper())
                if "Code" in answer and "IsSuccess" not in answer:
                    answer.setdefault("HostId", "ecs.aliyuncs.com")
                self._send_bytes(status, json.dumps(answer).encode(),
                                 "application/json;charset=utf-8")

        return Handler

    def handle(self, method: str, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        """Answer one request: (HTTP status, JSON body)."""
        names = [name for name, _ in pairs]
        params = dict(pairs)
        action = params.get("Action", "")
        try:
            if len(names) != len(set(names)):
                duplicate = next(n for n in names if names.count(n) > 1)
                raise _invalid(duplicate, "The parameter is given more than once.")
            self._authenticate(method, pairs, params)
            self._fault(action)
            if params["Version"] == CR_VERSION:
                return self._registry_rpc(method, action, params)
            handler = getattr(self, f"_action_{action}", None)
            if handler is None:
                raise ApiError(404, "InvalidAction.NotFound",
                               "Specified api is not found, please check your url and method.")
            answer = handler(params)
            self._record(method, action, params, 200, "")
            return 200, answer
        except ApiError as error:
            self._record(method, action, params, error.status, error.code)
            return error.status, {"Code": error.code, "Message": error.message,
                                  "Recommend": f"https://api.aliyun.com/troubleshoot?q="
                                               f"{error.code}"}

    def _registry_rpc(self, method: str, action: str, params: dict[str, str]
                      ) -> tuple[int, dict[str, Any]]:
        try:
            answer = self.cr.rpc(action, params)
        except CrError as error:
            if error.status != 200:
                raise ApiError(error.status, error.code, error.message) from None
            self._record(method, action, params, 200, error.code)
            return 200, {"Code": error.code, "Message": error.message, "IsSuccess": False}
        self._record(method, action, params, 200, "")
        return 200, answer

    def handle_roa(self, method: str, path: str, query: list[tuple[str, str]],
                   headers: list[tuple[str, str]], body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one ROA (Container Registry 2016-06-07) request: (HTTP status, JSON body)."""
        action = f"ROA {method} {path}"
        params = dict(query)
        try:
            self._authenticate_roa(method, path, query, headers, body)
            self._fault(action)
            answer = self.cr.roa(method, path, body)
        except (ApiError, CrError) as error:
            self._record(method, action, params, error.status, error.code)
            return error.status, {"Code": error.code, "Message": error.message}
        self._record(method, action, params, 200, "")
        return 200, answer

    def _authenticate_roa(self, method: str, path: str, query: list[tuple[str, str]],
                          headers: list[tuple[str, str]], body: bytes) -> None:
        given = {name.lower(): value for name, value in headers}
        authorization = given.get("authorization", "")
        scheme, _, credential = authorization.partition(" ")
        key_id, _, signed = credential.partition(":")
        if scheme != "acs" or not key_id or not signed:
            raise ApiError(400, "IncompleteSignature",
                           "The request signature does not conform to Aliyun standards.")
        secret = self.credentials.get(key_id)
        if secret is None:
            raise ApiError(404, "InvalidAccessKeyId.NotFound",
                           "Specified access key is not found.")
        if given.get("x-acs-signature-method") != "HMAC-SHA1":
            raise ApiError(400, "InvalidSignatureMethod",
                           "Specified signature method is not supported.")
        if given.get("x-acs-signature-version") != "1.0":
            raise ApiError(400, "InvalidSignatureVersion",
                           "Specified signature version is not supported.")
        try:
            stamp = parsedate_to_datetime(given["date"]).timestamp()
        except (KeyError, TypeError, ValueError):
            raise ApiError(400, "InvalidTimeStamp.Format",
                           "Specified time stamp or date value is not well formatted.") from None
        if abs(self.clock() - stamp) > TIMESTAMP_WINDOW:
            raise ApiError(400, "InvalidTimeStamp.Expired",
                           "Specified time stamp or date value is expired.")
        if body:
            import hashlib

            digest = base64.b64encode(hashlib.md5(body).digest()).decode("ascii")
            if given.get("content-md5") != digest:
                raise ApiError(400, "InvalidContentMD5",
                               "The Content-MD5 you specified did not match what we received.")
        expected_text = roa_string_to_sign(method, headers, path, query)
        if not signature_matches(signed, roa_signature(expected_text, secret)):
            raise ApiError(400, "SignatureDoesNotMatch",
                           "Specified signature is not matched with our calculation. server "
                           f"string to sign is:{expected_text}")
        if given.get("x-acs-version") != PERSONAL_VERSION:
            raise ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")

    def _raw_answer(self) -> RawAnswer | None:
        with self._lock:
            for answer in self.raw_answers:
                if answer.times > 0:
                    answer.times -= 1
                    return answer
        return None

    def _record(self, method: str, action: str, params: dict[str, str], status: int,
                code: str) -> None:
        shown = {k: v for k, v in params.items() if k not in ("Signature",)}
        with self._lock:
            self.requests.append(RecordedRequest(method, action, shown, status, code))

    def _authenticate(self, method: str, pairs: list[tuple[str, str]],
                      params: dict[str, str]) -> None:
        for name in COMMON:
            if not params.get(name):
                raise _missing(name)
        if params.get("Format") and params["Format"].upper() not in ("JSON", "XML"):
            raise _invalid("Format")
        secret = self.credentials.get(params["AccessKeyId"])
        if secret is None:
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not "
                                                               "found.")
        if params["SignatureMethod"] != "HMAC-SHA1":
            raise ApiError(400, "InvalidSignatureMethod",
                           "Specified signature method is not supported.")
        if params["SignatureVersion"] != "1.0":
            raise ApiError(400, "InvalidSignatureVersion",
                           "Specified signature version is not supported.")
        try:
            stamp = timegm(time.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            raise ApiError(400, "InvalidTimeStamp.Format",
                           "Specified time stamp or date value is not well formatted.") from None
        now = self.clock()
        if abs(now - stamp) > TIMESTAMP_WINDOW:
            raise ApiError(400, "InvalidTimeStamp.Expired",
                           "Specified time stamp or date value is expired.")
        expected_text = string_to_sign(method, pairs)
        if not signature_matches(params["Signature"], signature(expected_text, secret)):
            raise ApiError(400, "SignatureDoesNotMatch",
                           "Specified signature is not matched with our calculation. server "
                           f"string to sign is:{expected_text}")
        with self._lock:
            for nonce, seen in list(self._nonces.items()):
                if now - seen > 2 * TIMESTAMP_WINDOW:
                    del self._nonces[nonce]
            key = f"{params['AccessKeyId']}:{params['SignatureNonce']}"
            if key in self._nonces:
                raise ApiError(400, "SignatureNonceUsed",
                               "Specified signature nonce was used already.")
            self._nonces[key] = now
        if params["Version"] not in (VERSION, CR_VERSION):
            raise ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")

    def _fault(self, action: str) -> None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.action in (None, action):
                    fault.times -= 1
                    raise ApiError(fault.status, fault.code, fault.message)

    # -- parameter readers --------------------------------------------------------------------

    def _region(self, params: dict[str, str]) -> str:
        region = params.get("RegionId")
        if not region:
            raise _missing("RegionId")
        if region not in self.regions:
            raise ApiError(404, "InvalidRegionId.NotFound",
                           "The specified RegionId does not exist.")
        return region

    @staticmethod
    def _repeated(params: dict[str, str], prefix: str, limit: int) -> list[str]:
        """`Prefix.1`, `Prefix.2`, ... in order; numbers must run from 1 without gaps."""
        found: dict[int, str] = {}
        for name, value in params.items():
            match = re.fullmatch(re.escape(prefix) + r"\.(\d+)", name)
            if match:
                found[int(match.group(1))] = value
        if sorted(found) != list(range(1, len(found) + 1)):
            raise _invalid(prefix, "Repeated parameters must be numbered from 1 without gaps.")
        if len(found) > limit:
            raise _invalid(prefix, f"At most {limit} values are allowed.")
        return [found[n] for n in sorted(found)]

    def _tags(self, params: dict[str, str], prefix: str = "Tag",
              need_value: bool = False) -> list[tuple[str, str]]:
        numbers = sorted({int(m.group(1)) for m in
                          (re.fullmatch(re.escape(prefix) + r"\.(\d+)\.(Key|Value)", n)
                           for n in params) if m})
        if numbers != list(range(1, len(numbers) + 1)) or len(numbers) > 20:
            raise _invalid(f"{prefix}.N", "Tags must be numbered from 1 to at most 20.")
        tags = []
        for n in numbers:
            key = params.get(f"{prefix}.{n}.Key", "")
            value = params.get(f"{prefix}.{n}.Value")
            if not key:
                raise _missing(f"{prefix}.{n}.Key")
            if len(key) > 128 or key.startswith(("aliyun", "acs:", "http://", "https://")):
                raise ApiError(400, "InvalidTagKey.Malformed",
                               "The specified Tag.n.Key is not valid.")
            if need_value and value is None:
                raise _missing(f"{prefix}.{n}.Value")
            if value is not None and len(value) > 128:
                raise ApiError(400, "InvalidTagValue.Malformed",
                               "The specified Tag.n.Value is not valid.")
            tags.append((key, value if value is not None else ""))
        return tags

    @staticmethod
    def _number(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
        text = params.get(name)
        if text in (None, ""):
            return default
        if not re.fullmatch(r"\d{1,9}", text):
            raise _invalid(name)
        value = int(text)
        if not low <= value <= high:
            raise _invalid(name, f"The value must be between {low} and {high}.")
        return value

    def _instance(self, instance_id: str, region: str, code: str) -> Instance:
        instance = self.instances.get(instance_id)
        if instance is None or instance.region != region:
            raise ApiError(404, code, "The specified instance does not exist."
                           if code.startswith("InvalidInstance") else
                           "The specified ResourceIds are not found in our records.")
        return instance

    # -- actions ------------------------------------------------------------------------------

    def _action_DescribeInstances(self, params: dict[str, str]) -> dict[str, Any]:
        region = self._region(params)
        page = self._number(params, "PageNumber", 1, 1, 100000)
        size = self._number(params, "PageSize", 10, 1, 100)
        ids: list[str] | None = None
        if params.get("InstanceIds"):
            try:
                ids = json.loads(params["InstanceIds"])
            except ValueError:
                ids = None
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ApiError(400, "InvalidInstanceIds.Malformed",
                               "The specified parameter InstancesIds is not valid.")
            if len(ids) > 100:
                raise ApiError(400, "InvalidInstanceIds.Malformed",
                               "The specified parameter InstanceIds has more than 100 ids.")
        tags = self._tags(params)
        if params.get("Status") and params["Status"] not in ("Pending", "Running", "Starting",
                                                             "Stopping", "Stopped"):
            raise _invalid("Status")
        with self._lock:
            matching = [i for i in self.instances.values() if i.region == region
                        and (ids is None or i.instance_id in ids)
                        and all(i.tags.get(k) == v if v else k in i.tags for k, v in tags)
                        and (not params.get("Status") or i.status == params["Status"])]
        matching.sort(key=lambda i: i.instance_id)
        shown = matching[(page - 1) * size:page * size]
        return {"TotalCount": len(matching), "PageNumber": page, "PageSize": size,
                "NextToken": "", "Instances": {"Instance": [self._describe(i) for i in shown]}}

    @staticmethod
    def _describe(instance: Instance) -> dict[str, Any]:
        return {
            "InstanceId": instance.instance_id,
            "InstanceName": instance.name or instance.instance_id,
            "HostName": instance.name or instance.instance_id,
            "RegionId": instance.region,
            "ZoneId": f"{instance.region}-a",
            "Status": instance.status,
            "OSType": "linux",
            "OSName": "Alibaba Cloud Linux 3 (emulated)",
            "InstanceNetworkType": "vpc",
            "InstanceType": "ecs.g7.large",
            "VpcAttributes": {"VpcId": "vpc-emulated", "VSwitchId": "vsw-emulated",
                              "NatIpAddress": "",
                              "PrivateIpAddress": {"IpAddress": [instance.private_ip]}},
            "InnerIpAddress": {"IpAddress": []},
            "PublicIpAddress": {"IpAddress": []},
            "EipAddress": {"IpAddress": "", "AllocationId": "", "Bandwidth": 0},
            "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in instance.tags.items()]},
            "CreationTime": "2026-01-01T00:00Z",
        }

    def _resource_ids(self, params: dict[str, str]) -> list[str]:
        if params.get("ResourceType") in (None, ""):
            raise _missing("ResourceType")
        if params["ResourceType"] != "instance":
            raise _invalid("ResourceType", "The emulator knows instances only.")
        ids = self._repeated(params, "ResourceId", 50)
        if not ids:
            raise _missing("ResourceId.1")
        return ids

    def _action_TagResources(self, params: dict[str, str]) -> dict[str, Any]:
        region = self._region(params)
        ids = self._resource_ids(params)
        tags = self._tags(params, need_value=True)
        if not tags:
            raise _missing("Tag.1.Key")
        with self._lock:
            targets = [self._instance(i, region, "InvalidResourceId.NotFound") for i in ids]
            for instance in targets:
                if len({*instance.tags, *(k for k, _ in tags)}) > 20:
                    raise ApiError(400, "InvalidTagCount", "The number of tags on the resource "
                                                           "exceeds the limit of 20.")
            for instance in targets:
                instance.tags.update(tags)
        return {}

    def _action_UntagResources(self, params: dict[str, str]) -> dict[str, Any]:
        region = self._region(params)
        ids = self._resource_ids(params)
        keys = self._repeated(params, "TagKey", 20)
        remove_all = params.get("All", "").lower() == "true"
        if not keys and not remove_all:
            raise _missing("TagKey.1")
        with self._lock:
            targets = [self._instance(i, region, "InvalidResourceId.NotFound") for i in ids]
            for instance in targets:
                instance.tags = {} if remove_all else {k: v for k, v in instance.tags.items()
                                                       if k not in keys}
        return {}

    def _action_DescribeCloudAssistantStatus(self, params: dict[str, str]) -> dict[str, Any]:
        region = self._region(params)
        ids = self._repeated(params, "InstanceId", 50)
        page = self._number(params, "PageNumber", 1, 1, 100000)
        size = self._number(params, "PageSize", 10, 1, 50)
        with self._lock:
            if ids:
                chosen = [self._instance(i, region, "InvalidInstanceId.NotFound") for i in ids]
            else:
                chosen = sorted((i for i in self.instances.values() if i.region == region),
                                key=lambda i: i.instance_id)
            items = [{"InstanceId": i.instance_id,
                      "CloudAssistantStatus": "true" if i.cloud_assistant
                      and i.status == "Running" else "false",
                      "CloudAssistantVersion": "2.2.3.256", "OSType": "Linux",
                      "LastHeartbeatTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "SupportSessionManager": True,
                      "ActiveTaskCount": sum(1 for inv in self.invocations.values()
                                             for r in inv.records.values()
                                             if r.instance_id == i.instance_id
                                             and not r.done.is_set()),
                      "InvocationCount": sum(1 for inv in self.invocations.values()
                                             if i.instance_id in inv.records)}
                     for i in chosen]
        shown = items[(page - 1) * size:page * size]
        return {"TotalCount": len(items), "PageNumber": page, "PageSize": size,
                "InstanceCloudAssistantStatusSet": {"InstanceCloudAssistantStatus": shown}}

    def _command_fields(self, params: dict[str, str]) -> dict[str, Any]:
        kind = params.get("Type")
        if not kind:
            raise _missing("Type")
        if kind not in ("RunShellScript", "RunBatScript", "RunPowerShellScript"):
            raise ApiError(400, "InvalidCmdType.NotFound", "The specified command type does "
                                                           "not exist.")
        content = params.get("CommandContent")
        if not content:
            raise _missing("CommandContent")
        encoding = params.get("ContentEncoding") or "PlainText"
        if encoding not in ("PlainText", "Base64"):
            raise _invalid("ContentEncoding")
        if encoding == "Base64":
            try:
                raw = base64.b64decode(content, validate=True)
                text = raw.decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise ApiError(400, "InvalidCmdContent.Malformed",
                               "The specified command content is not valid Base64.") from None
        else:
            text = content
        if len(base64.b64encode(text.encode("utf-8"))) > MAX_CONTENT:
            raise ApiError(400, "InvalidCmdContent.ExceedLimit",
                           "The command content exceeds 18 KB after Base64 encoding.")
        return {"Type": kind, "Content": text, "WorkingDir": params.get("WorkingDir", ""),
                "Timeout": self._number(params, "Timeout", 60, 10, 86400),
                "Name": params.get("Name", "")}

    def _start(self, region: str, params: dict[str, str], command_id: str,
               command: dict[str, Any]) -> str:
        ids = self._repeated(params, "InstanceId", 100)
        if not ids:
            raise _missing("InstanceId.1")
        if command["Type"] != "RunShellScript":
            raise ApiError(400, "InvalidOperation.CommandTypeNotMatch",
                           "The command type does not match the OS type of the instance.")
        with self._lock:
            for instance_id in ids:
                instance = self._instance(instance_id, region, "InvalidInstance.NotFound")
                if instance.status != "Running":
                    raise ApiError(403, "IncorrectInstanceStatus",
                                   "The current status of the resource does not support this "
                                   "operation.")
                if not instance.cloud_assistant:
                    raise ApiError(403, "ClientNotOnline",
                                   "The Cloud Assistant client on the instance is not online.")
            invoke_id = f"t-{uuid.uuid4().hex[:20]}"
            invocation = Invocation(
                invoke_id=invoke_id, command_id=command_id, content=command["Content"],
                working_dir=params.get("WorkingDir") or command["WorkingDir"],
                timeout=self._number(params, "Timeout", command["Timeout"], 10, 86400),
                username=params.get("Username", "") or "root",
                records={i: Record(i) for i in dict.fromkeys(ids)})
            self.invocations[invoke_id] = invocation
        self.runner.start(invocation)
        return invoke_id

    def _action_RunCommand(self, params: dict[str, str]) -> dict[str, Any]:
        region = self._region(params)
        command = self._command_fields(params)
        command_id = f"c-{uuid.uuid4().hex[:20]}"
        if params.get("KeepCommand", "").lower() == "true":
            self.commands[command_id] = {**command, "Region": region}
        return {"CommandId": command_id,
                "InvokeId": self._start(region, params, command_id, command)}

    def _action_CreateCommand(self, params: dict[str, str]) -> dict[str, Any]:
        region = self._region(params)
        if not params.get("Name"):
            raise _missing("Name")
        command = self._command_fields(params)
        command_id = f"c-{uuid.uuid4().hex[:20]}"
        with self._lock:
            self.commands[command_id] = {**command, "Region": region}
        return {"CommandId": command_id}

    def _action_InvokeCommand(self, params: dict[str, str]) -> dict[str, Any]:
        region = self._region(params)
        command_id = params.get("CommandId")
        if not command_id:
            raise _missing("CommandId")
        command = self.commands.get(command_id)
        if command is None or command["Region"] != region:
            raise ApiError(404, "InvalidCommandId.NotFound",
                           "The specified command does not exist.")
        return {"InvokeId": self._start(region, params, command_id, command)}

    def _action_DescribeInvocationResults(self, params: dict[str, str]) -> dict[str, Any]:
        self._region(params)
        page = self._number(params, "PageNumber", 1, 1, 100000)
        size = self._number(params, "PageSize", 10, 1, 50)
        encoding = params.get("ContentEncoding") or "Base64"
        if encoding not in ("PlainText", "Base64"):
            raise _invalid("ContentEncoding")
        wanted = params.get("InvokeRecordStatus")
        with self._lock:
            invocations = [inv for inv in self.invocations.values()
                           if params.get("InvokeId") in (None, "", inv.invoke_id)
                           and params.get("CommandId") in (None, "", inv.command_id)]
            results = []
            for invocation in invocations:
                for record in invocation.records.values():
                    if params.get("InstanceId") not in (None, "", record.instance_id):
                        continue
                    if wanted and record.record_status != wanted:
                        continue
                    output = bytes(record.output)
                    results.append({
                        "CommandId": invocation.command_id,
                        "InvokeId": invocation.invoke_id,
                        "InstanceId": record.instance_id,
                        "InvocationStatus": record.status,
                        "InvokeRecordStatus": record.record_status,
                        "ExitCode": record.exit_code if record.exit_code is not None else 0,
                        "Output": (base64.b64encode(output).decode("ascii")
                                   if encoding == "Base64"
                                   else output.decode("utf-8", "replace")),
                        "Dropped": record.dropped,
                        "ErrorCode": record.error_code,
                        "ErrorInfo": record.error_info,
                        "StartTime": record.start_time,
                        "FinishedTime": record.finished_time,
                        "StopTime": record.stop_time,
                        "Repeats": 1,
                        "Username": invocation.username,
                    })
        shown = results[(page - 1) * size:page * size]
        return {"Invocation": {"PageNumber": page, "PageSize": size,
                               "TotalCount": len(results), "NextToken": "",
                               "InvocationResults": {"InvocationResult": shown}}}

    def _action_StopInvocation(self, params: dict[str, str]) -> dict[str, Any]:
        region = self._region(params)
        invoke_id = params.get("InvokeId")
        if not invoke_id:
            raise _missing("InvokeId")
        invocation = self.invocations.get(invoke_id)
        if invocation is None:
            raise ApiError(404, "InvalidInvokeId.NotFound",
                           "The specified invocation does not exist.")
        ids = self._repeated(params, "InstanceId", 50) or list(invocation.records)
        for instance_id in ids:
            self._instance(instance_id, region, "InvalidInstance.NotFound")
            record = invocation.records.get(instance_id)
            if record is not None:
                self.runner.stop(record)
        return {}


def load_instances(path: Path) -> list[Instance]:
    """Instances from a JSON file: a list of {id, region, private_ip, tags, status,
    cloud_assistant}, or {"instances": [...]}."""
    data = json.loads(Path(path).read_text())
    if isinstance(data, dict):
        data = data.get("instances", [])
    return [Instance.from_json(item) for item in data]

"""CrClient: the Container Registry (ACR) calls flowplan makes, on aliyun-python-sdk-cr; and
`registry_login`, the temporary push credentials of an applied `acr_repository`.

Two editions, one interface (`instance_id` chooses):

- Enterprise Edition (an instance `cri-...`): API 2018-12-01, RPC style. CreateNamespace,
  GetNamespace, UpdateNamespace, DeleteNamespace, CreateRepository, GetRepository,
  UpdateRepository, DeleteRepository, ListRepository, GetAuthorizationToken, and
  ListInstanceEndpoint for the registry domain of the instance. Business errors come back as
  HTTP 200 with `IsSuccess: false` and a code; both that and HTTP errors are handled.
- Personal Edition (no instance): API 2016-06-07, ROA style. PUT /namespace,
  GET|POST|DELETE /namespace/NS, PUT /repos, GET|POST|DELETE /repos/NS/NAME, GET /tokens.

What it adds to the SDK, as EcsClient does for ECS (and with its Backoff and error codes):
errors as `CrError` whose text names the action, the object and the API's code, never a key or a
token, and never more than a short excerpt of what the server said; credentials refused are never
retried; throttling, 5xx and failed connections are retried with bounded backoff; every answer is
checked for its shape (and size) before a field of it is used, so a malformed answer is an error
that says so, not a KeyError. Names are checked before they go into a request path.

IDs, as `flowplan import` takes them and `id` records them: `NAMESPACE/NAME` for a Personal
Edition repository, `INSTANCE:NAMESPACE/NAME` for an Enterprise one (`cri-xxx:team/app`); a
namespace is `NAMESPACE` or `INSTANCE:NAMESPACE`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcr.request.v20160607 import (CreateNamespaceRequest, CreateRepoRequest,
                                           DeleteNamespaceRequest, DeleteRepoRequest,
                                           GetNamespaceRequest, GetRepoRequest,
                                           UpdateNamespaceRequest, UpdateRepoRequest)
from aliyunsdkcr.request.v20160607 import GetAuthorizationTokenRequest as PersonalToken
from aliyunsdkcr.request.v20181201 import CreateNamespaceRequest as EeCreateNamespace
from aliyunsdkcr.request.v20181201 import DeleteNamespaceRequest as EeDeleteNamespace
from aliyunsdkcr.request.v20181201 import GetAuthorizationTokenRequest as EeToken
from aliyunsdkcr.request.v20181201 import GetNamespaceRequest as EeGetNamespace
from aliyunsdkcr.request.v20181201 import UpdateNamespaceRequest as EeUpdateNamespace
from aliyunsdkcr.request.v20181201 import (CreateRepositoryRequest, DeleteRepositoryRequest,
                                           GetRepositoryRequest, ListInstanceEndpointRequest,
                                           ListRepositoryRequest, UpdateRepositoryRequest)

from .ecs import CREDENTIAL_CODES, THROTTLING, TRANSIENT, Backoff
from .settings import AlicloudSettings, read_settings

MAX_ANSWER = 1024 * 1024                 # bytes: a registry API answer is a few hundred
NOT_FOUND = {"REPO_NOT_EXIST", "NAMESPACE_NOT_EXIST", "INSTANCE_NOT_EXIST"}
# Duplicates: the codes the emulator answers and the spellings seen for them. A create that fails
# for another reason is also checked against what exists, so the import hint does not hang on a
# code alone.
EXISTS = {"REPO_NAME_EXIST", "REPO_EXIST", "REPO_ALREADY_EXIST", "NAMESPACE_NAME_EXIST",
          "NAMESPACE_EXIST", "NAMESPACE_ALREADY_EXIST"}
VISIBILITIES = ("PUBLIC", "PRIVATE")

_NAMESPACE = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,28}[a-z0-9])?\Z")
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?\Z")
_INSTANCE = re.compile(r"cri-[a-z0-9]{1,40}\Z")
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                   r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::[0-9]{1,5})?\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CrError(Exception):
    """A failed Container Registry call; str() is safe to show (no key, no token)."""

    def __init__(self, message: str, *, code: str = "", status: int | None = None):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status

    @property
    def not_found(self) -> bool:
        return self.code in NOT_FOUND

    @property
    def exists(self) -> bool:
        return self.code in EXISTS


@dataclass(frozen=True)
class RegistryLogin:
    host: str              # the registry domain pushes go to
    username: str
    password: str = field(repr=False)      # temporary
    expires_at: datetime | None = None

    def __repr__(self) -> str:               # never the password, even by accident
        return (f"RegistryLogin(host={self.host!r}, username={self.username!r}, "
                f"expires_at={self.expires_at!r})")


@dataclass(frozen=True)
class NamespaceInfo:
    name: str
    instance_id: str | None
    auto_create: bool
    default_visibility: str


@dataclass(frozen=True)
class RepositoryInfo:
    namespace: str
    name: str
    instance_id: str | None
    visibility: str
    summary: str
    description: str
    tag_immutability: bool
    repo_id: str | None                    # Enterprise Edition's RepoId (crr-...); None else
    registry: str | None                   # Personal Edition's public domain; None for EE


# -- names and ids ----------------------------------------------------------------------------

def namespace_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not _NAMESPACE.match(name):
        return (f"{_shown(name)} is not a namespace name: 2 to 30 lower-case letters, digits, "
                "`_` or `-`, starting and ending with a letter or digit")
    return None


def name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or len(name) < 2 or not _NAME.match(name):
        return (f"{_shown(name)} is not a repository name: 2 to 64 lower-case letters, digits, "
                "`.`, `_` or `-`, starting and ending with a letter or digit")
    return None


def instance_problem(instance_id: Any) -> str | None:
    if instance_id is not None and (not isinstance(instance_id, str)
                                    or not _INSTANCE.match(instance_id)):
        return (f"{_shown(instance_id)} is not a Container Registry Enterprise Edition instance "
                "id (cri- and lower-case letters or digits, such as cri-kmsiwlxxdcva1234)")
    return None


def repository_id(instance_id: str | None, namespace: str, name: str) -> str:
    return f"{instance_id}:{namespace}/{name}" if instance_id else f"{namespace}/{name}"


def namespace_id(instance_id: str | None, name: str) -> str:
    return f"{instance_id}:{name}" if instance_id else name


def parse_repository_id(text: str) -> tuple[str | None, str, str]:
    """(instance_id, namespace, name) of `NS/NAME` or `cri-...:NS/NAME`; ValueError says why."""
    instance_id, _, path = text.rpartition(":") if ":" in text else (None, "", text)
    namespace, slash, name = path.partition("/")
    problem = (instance_problem(instance_id) or
               ("it has no `/` between namespace and name" if not slash else None) or
               namespace_problem(namespace) or name_problem(name))
    if problem:
        raise ValueError(problem)
    return instance_id or None, namespace, name


def parse_namespace_id(text: str) -> tuple[str | None, str]:
    instance_id, _, name = text.rpartition(":") if ":" in text else (None, "", text)
    problem = instance_problem(instance_id) or namespace_problem(name)
    if problem:
        raise ValueError(problem)
    return instance_id or None, name


def host_problem(host: Any) -> str | None:
    if not isinstance(host, str) or len(host) > 253 or not _HOST.match(host):
        return f"{_shown(host)} is not a registry host name"
    return None


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else repr(_CONTROL.sub("?", value))
    return text if len(text) <= 80 else text[:77] + "...'"


def _ee_namespace(request: Any, instance_id: str, name: str, auto_create: bool,
                  default_visibility: str) -> Any:
    """An Enterprise Edition CreateNamespace or UpdateNamespace request: the same parameters."""
    request.set_InstanceId(instance_id)
    request.set_NamespaceName(name)
    request.set_AutoCreateRepo(_flag(auto_create))
    request.set_DefaultRepoType(default_visibility)
    return request


# -- the client -------------------------------------------------------------------------------

class CrClient:
    """Container Registry calls in one region with one access key pair; thread-safe."""

    def __init__(self, settings: AlicloudSettings, region: str, *,
                 backoff: Backoff = Backoff(), timeout: float = 20.0):
        if not settings.access_key or not settings.secret_key:
            raise ValueError("CrClient needs access_key and secret_key")
        self.region = region
        self.endpoint = settings.endpoint
        self.backoff = backoff
        self._secrets = (settings.access_key, settings.secret_key)
        self._client = AcsClient(settings.access_key, settings.secret_key, region,
                                 auto_retry=False, connect_timeout=5, timeout=int(timeout))
        self._lock = threading.Lock()
        self.calls = 0

    # -- the call, its errors and retries ---------------------------------------------------

    def _call(self, request: Any, what: str) -> dict[str, Any]:
        """The JSON answer of `request`; `what` names the object in messages."""
        action = request.get_action_name()
        request.set_endpoint(self.endpoint or f"cr.{self.region}.aliyuncs.com")
        if not self.endpoint:
            request.set_protocol_type("https")
        retry = 0
        while True:
            with self._lock:
                self.calls += 1
            try:
                body = self._client.do_action_with_exception(request)
            except ServerException as error:
                code, status = error.get_error_code(), error.get_http_status()
                message = error.get_error_msg() or ""
                if code in CREDENTIAL_CODES:
                    why = CREDENTIAL_CODES[code]
                    raise CrError(f"{action} of {what} failed: Alibaba Cloud refused the "
                                  f'credentials of the provider "alicloud" block: {why} '
                                  f"({code}). Check access_key and secret_key.",
                                  code=code, status=status) from None
                code, message = self._unwrapped(code, message, status)
                transient = code.startswith(THROTTLING) or code in TRANSIENT or \
                    (status is not None and status >= 500)
                failure = CrError(f"{action} of {what} failed: {self._safe(message)} ({code})",
                                  code=code, status=status)
            except ClientException as error:
                transient = error.get_error_code() in TRANSIENT
                where = self.endpoint or f"the Container Registry endpoint of {self.region}"
                failure = CrError(f"{action} of {what} failed: cannot reach {where}: "
                                  f"{self._safe(error.get_error_msg() or '')}",
                                  code=error.get_error_code())
            else:
                answer = self._decoded(body, action, what)
                if answer.get("IsSuccess") is False:
                    code = _text(answer.get("Code")) or "UNKNOWN"
                    message = _text(answer.get("Message")) or "the call was refused"
                    raise CrError(f"{action} of {what} failed: {self._safe(message)} ({code})",
                                  code=code, status=200)
                return answer
            retry += 1
            if not transient or retry >= self.backoff.attempts:
                if transient:
                    failure.args = (f"{failure.message}, still after {retry} attempts",)
                raise failure
            self.backoff.sleep(self.backoff.delay(retry))

    def _unwrapped(self, code: str, message: str, status: int | None) -> tuple[str, str]:
        """The code and message of an error answer the SDK could not read (lower-case keys, or
        not JSON), without the body itself."""
        prefix = "ServerResponseBody: "
        if not message.startswith(prefix):
            return code, message
        try:
            body = json.loads(message[len(prefix):len(prefix) + MAX_ANSWER])
        except ValueError:
            body = None
        if isinstance(body, dict):
            found = {k.lower(): v for k, v in body.items() if isinstance(k, str)}
            if isinstance(found.get("code"), str) and found["code"]:
                return found["code"][:100], _text(found.get("message")) or "no message"
        return code, f"the answer (HTTP {status}) is not an API error message"

    def _decoded(self, body: Any, action: str, what: str) -> dict[str, Any]:
        if not isinstance(body, (bytes, str)) or len(body) > MAX_ANSWER:
            raise CrError(f"{action} of {what} failed: the answer is larger than "
                          f"{MAX_ANSWER // 1024} KiB", code="InvalidResponse")
        try:
            answer = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise CrError(f"{action} of {what} failed: the answer is not JSON",
                          code="InvalidResponse") from None
        if not isinstance(answer, dict):
            raise CrError(f"{action} of {what} failed: the answer is not a JSON object",
                          code="InvalidResponse")
        return answer

    def _safe(self, message: str) -> str:
        """An API message fit to show: one line, short, no key."""
        for secret in self._secrets:
            if secret:
                message = message.replace(secret, "***")
        message = _CONTROL.sub(" ", message).strip()
        return message if len(message) <= 300 else message[:297] + "..."

    def _roa(self, request: Any, body: Mapping[str, Any] | None = None) -> Any:
        if body is not None:
            request.set_content(json.dumps(body).encode("utf-8"))
            request.set_content_type("application/json")
        return request

    # -- namespaces -------------------------------------------------------------------------

    def get_namespace(self, instance_id: str | None, name: str) -> NamespaceInfo | None:
        what = f"namespace {namespace_id(instance_id, name)}"
        try:
            if instance_id:
                request = EeGetNamespace.GetNamespaceRequest()
                request.set_InstanceId(instance_id)
                request.set_NamespaceName(name)
                answer = self._call(request, what)
                return NamespaceInfo(
                    _string(answer, "NamespaceName", what), instance_id,
                    _boolean(answer.get("AutoCreateRepo", False), what),
                    _visibility(answer.get("DefaultRepoType", "PRIVATE"), what))
            request = GetNamespaceRequest.GetNamespaceRequest()
            request.set_Namespace(name)
            found = _object(_object(self._call(request, what), "data", what), "namespace", what)
            return NamespaceInfo(_string(found, "namespace", what), None,
                                 _boolean(found.get("autoCreate", False), what),
                                 _visibility(found.get("defaultVisibility", "PRIVATE"), what))
        except CrError as error:
            if error.code in ("NAMESPACE_NOT_EXIST",):
                return None
            raise

    def create_namespace(self, instance_id: str | None, name: str, *, auto_create: bool,
                         default_visibility: str) -> None:
        what = f"namespace {namespace_id(instance_id, name)}"
        if instance_id:
            self._call(_ee_namespace(EeCreateNamespace.CreateNamespaceRequest(), instance_id,
                                     name, auto_create, default_visibility), what)
            return
        self._call(self._roa(CreateNamespaceRequest.CreateNamespaceRequest(),
                             {"Namespace": {"Namespace": name}}), what)
        self.update_namespace(None, name, auto_create=auto_create,
                              default_visibility=default_visibility)

    def update_namespace(self, instance_id: str | None, name: str, *, auto_create: bool,
                         default_visibility: str) -> None:
        what = f"namespace {namespace_id(instance_id, name)}"
        if instance_id:
            self._call(_ee_namespace(EeUpdateNamespace.UpdateNamespaceRequest(), instance_id,
                                     name, auto_create, default_visibility), what)
            return
        request = UpdateNamespaceRequest.UpdateNamespaceRequest()
        request.set_Namespace(name)
        self._call(self._roa(request, {"Namespace": {"AutoCreate": auto_create,
                                                     "DefaultVisibility": default_visibility}}),
                   what)

    def delete_namespace(self, instance_id: str | None, name: str) -> None:
        """Delete the namespace; one already gone is fine."""
        what = f"namespace {namespace_id(instance_id, name)}"
        try:
            if instance_id:
                request = EeDeleteNamespace.DeleteNamespaceRequest()
                request.set_InstanceId(instance_id)
                request.set_NamespaceName(name)
            else:
                request = DeleteNamespaceRequest.DeleteNamespaceRequest()
                request.set_Namespace(name)
            self._call(request, what)
        except CrError as error:
            if error.code != "NAMESPACE_NOT_EXIST":
                raise

    # -- repositories -----------------------------------------------------------------------

    def get_repository(self, instance_id: str | None, namespace: str, name: str
                       ) -> RepositoryInfo | None:
        what = f"repository {repository_id(instance_id, namespace, name)}"
        try:
            if instance_id:
                request = GetRepositoryRequest.GetRepositoryRequest()
                request.set_InstanceId(instance_id)
                request.set_RepoNamespaceName(namespace)
                request.set_RepoName(name)
                return _enterprise_repository(self._call(request, what), instance_id, what)
            request = GetRepoRequest.GetRepoRequest()
            request.set_RepoNamespace(namespace)
            request.set_RepoName(name)
            found = _object(_object(self._call(request, what), "data", what), "repo", what)
            domains = found.get("repoDomainList")
            public = domains.get("public") if isinstance(domains, dict) else None
            if public is not None and host_problem(public):
                raise CrError(f"GetRepo of {what} failed: the answer's registry domain "
                              f"{_shown(public)} is not a host name", code="InvalidResponse")
            return RepositoryInfo(
                _string(found, "repoNamespace", what), _string(found, "repoName", what), None,
                _visibility(found.get("repoType"), what), _optional(found, "summary", what),
                _optional(found, "detail", what), False, None, public)
        except CrError as error:
            if error.code in ("REPO_NOT_EXIST", "NAMESPACE_NOT_EXIST"):
                return None
            raise

    def find_repository(self, instance_id: str, namespace: str, name: str
                        ) -> RepositoryInfo | None:
        """The Enterprise repository NAMESPACE/NAME as ListRepository shows it (the way the
        console lists them), or None."""
        what = f"repository {repository_id(instance_id, namespace, name)}"
        request = ListRepositoryRequest.ListRepositoryRequest()
        request.set_InstanceId(instance_id)
        request.set_RepoNamespaceName(namespace)
        request.set_RepoName(name)
        request.set_RepoStatus("ALL")
        request.set_PageNo(1)
        request.set_PageSize(30)
        items = self._call(request, what).get("Repositories", [])
        if not isinstance(items, list):
            raise CrError(f"ListRepository of {what} failed: the answer's Repositories is not "
                          "a list", code="InvalidResponse")
        for item in items:
            if isinstance(item, dict) and item.get("RepoNamespaceName") == namespace and \
                    item.get("RepoName") == name:
                return _enterprise_repository(item, instance_id, what)
        return None

    def create_repository(self, instance_id: str | None, namespace: str, name: str, *,
                          visibility: str, summary: str, description: str,
                          tag_immutability: bool) -> None:
        what = f"repository {repository_id(instance_id, namespace, name)}"
        if instance_id:
            request = CreateRepositoryRequest.CreateRepositoryRequest()
            request.set_InstanceId(instance_id)
            request.set_RepoNamespaceName(namespace)
            request.set_RepoName(name)
            request.set_RepoType(visibility)
            request.set_Summary(summary)
            request.set_Detail(description)
            request.set_TagImmutability(_flag(tag_immutability))
            self._call(request, what)
            return
        self._call(self._roa(CreateRepoRequest.CreateRepoRequest(), {"Repo": {
            "RepoNamespace": namespace, "RepoName": name, "RepoType": visibility,
            "Summary": summary, "Detail": description}}), what)

    def update_repository(self, repository: RepositoryInfo, *, visibility: str, summary: str,
                          description: str, tag_immutability: bool) -> None:
        what = "repository " + repository_id(repository.instance_id, repository.namespace,
                                             repository.name)
        if repository.instance_id:
            request = UpdateRepositoryRequest.UpdateRepositoryRequest()
            request.set_InstanceId(repository.instance_id)
            request.set_RepoId(repository.repo_id)
            request.set_RepoType(visibility)
            request.set_Summary(summary)
            request.set_Detail(description)
            request.set_TagImmutability(_flag(tag_immutability))
            self._call(request, what)
            return
        request = UpdateRepoRequest.UpdateRepoRequest()
        request.set_RepoNamespace(repository.namespace)
        request.set_RepoName(repository.name)
        self._call(self._roa(request, {"Repo": {"RepoType": visibility, "Summary": summary,
                                                "Detail": description}}), what)

    def delete_repository(self, instance_id: str | None, namespace: str, name: str,
                          repo_id: str | None = None) -> None:
        """Delete the repository; one already gone is fine."""
        what = f"repository {repository_id(instance_id, namespace, name)}"
        try:
            if instance_id:
                if not repo_id:
                    found = self.get_repository(instance_id, namespace, name)
                    if found is None:
                        return
                    repo_id = found.repo_id
                request = DeleteRepositoryRequest.DeleteRepositoryRequest()
                request.set_InstanceId(instance_id)
                request.set_RepoId(repo_id)
            else:
                request = DeleteRepoRequest.DeleteRepoRequest()
                request.set_RepoNamespace(namespace)
                request.set_RepoName(name)
            self._call(request, what)
        except CrError as error:
            if error.code not in ("REPO_NOT_EXIST", "NAMESPACE_NOT_EXIST"):
                raise

    # -- the registry -----------------------------------------------------------------------

    def registry_host(self, instance_id: str) -> str:
        """The public registry domain of an Enterprise instance (ListInstanceEndpoint)."""
        what = f"instance {instance_id}"
        request = ListInstanceEndpointRequest.ListInstanceEndpointRequest()
        request.set_InstanceId(instance_id)
        request.set_ModuleName("Registry")
        endpoints = self._call(request, what).get("Endpoints")
        if not isinstance(endpoints, list):
            raise CrError(f"ListInstanceEndpoint of {what} failed: the answer has no list of "
                          "Endpoints", code="InvalidResponse")
        for endpoint in endpoints:
            if not isinstance(endpoint, dict) or endpoint.get("EndpointType") != "internet":
                continue
            domains = endpoint.get("Domains")
            for domain in domains if isinstance(domains, list) else ():
                host = domain.get("Domain") if isinstance(domain, dict) else None
                if host is not None and not host_problem(host):
                    return host
                raise CrError(f"ListInstanceEndpoint of {what} failed: the registry domain "
                              f"{_shown(host)} is not a host name", code="InvalidResponse")
        raise CrError(f"instance {instance_id} has no internet endpoint for its registry: "
                      "turn on its public endpoint in the Container Registry console",
                      code="NoEndpoint")

    def authorization(self, instance_id: str | None) -> tuple[str, str, datetime | None]:
        """(username, password, expiry) of a temporary registry login."""
        what = f"instance {instance_id}" if instance_id else "the Personal Edition registry"
        if instance_id:
            request = EeToken.GetAuthorizationTokenRequest()
            request.set_InstanceId(instance_id)
            answer = self._call(request, what)
            keys = ("TempUsername", "AuthorizationToken", "ExpireTime")
        else:
            request = PersonalToken.GetAuthorizationTokenRequest()
            answer = _object(self._call(request, what), "data", what)
            keys = ("tempUserName", "authorizationToken", "expireDate")
        username, password, expiry = (answer.get(k) for k in keys)
        for value, label in ((username, "user name"), (password, "token")):
            if not isinstance(value, str) or not value or len(value) > 8192 or \
                    _CONTROL.search(value):
                raise CrError(f"GetAuthorizationToken of {what} failed: the answer has no "
                              f"usable {label}", code="InvalidResponse")
        expires = None
        if isinstance(expiry, (int, float)) and not isinstance(expiry, bool) and \
                0 < expiry < 10 ** 14:
            expires = datetime.fromtimestamp(expiry / 1000, timezone.utc)
        return username, password, expires


# -- answers ----------------------------------------------------------------------------------

def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _object(answer: Mapping[str, Any], key: str, what: str) -> dict[str, Any]:
    value = answer.get(key)
    if not isinstance(value, dict):
        raise CrError(f"reading {what} failed: the answer has no `{key}` object",
                      code="InvalidResponse")
    return value


def _string(answer: Mapping[str, Any], key: str, what: str) -> str:
    value = answer.get(key)
    if not isinstance(value, str) or not value or len(value) > 256:
        raise CrError(f"reading {what} failed: the answer's `{key}` is not a name",
                      code="InvalidResponse")
    return value


def _optional(answer: Mapping[str, Any], key: str, what: str) -> str:
    value = answer.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 4000:
        raise CrError(f"reading {what} failed: the answer's `{key}` is not text",
                      code="InvalidResponse")
    return value


def _boolean(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise CrError(f"reading {what} failed: the answer holds {_shown(value)} where a boolean "
                  "belongs", code="InvalidResponse")


def _visibility(value: Any, what: str) -> str:
    if isinstance(value, str) and value.upper() in VISIBILITIES:
        return value.upper()
    raise CrError(f"reading {what} failed: the answer's visibility {_shown(value)} is neither "
                  "PUBLIC nor PRIVATE", code="InvalidResponse")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _enterprise_repository(answer: Mapping[str, Any], instance_id: str, what: str
                           ) -> RepositoryInfo:
    repo_id = _string(answer, "RepoId", what)
    return RepositoryInfo(
        _string(answer, "RepoNamespaceName", what), _string(answer, "RepoName", what),
        instance_id, _visibility(answer.get("RepoType"), what),
        _optional(answer, "Summary", what), _optional(answer, "Detail", what),
        _boolean(answer.get("TagImmutability", False), what), repo_id, None)


# -- registry_login -----------------------------------------------------------------------------

def registry_login(block: Mapping[str, Any], repository: Mapping[str, Any],
                   *, backoff: Backoff = Backoff()) -> RegistryLogin:
    """A temporary login to the registry of an applied `acr_repository`.

    `block` is the evaluated `provider "alicloud"` block (region, access_key, secret_key,
    endpoint, in clear); `repository` the repository's state attributes. Enterprise Edition
    (`instance_id` set): GetAuthorizationToken 2018-12-01 for the instance; Personal Edition:
    GET /tokens (2016-06-07). The host is the repository's recorded `registry`. Raises CrError
    with a message fit for a step log.
    """
    from flowplan.providers import ProviderBlock

    settings, problems = read_settings(ProviderBlock(dict(block)))
    if settings is None or problems:
        raise CrError('the provider "alicloud" block is not usable: ' +
                      "; ".join(p.summary for p in problems), code="Settings")
    missing = [n for n in ("region", "access_key", "secret_key") if not getattr(settings, n)]
    if missing:
        raise CrError(f'the provider "alicloud" block has no {" or ".join(missing)}, which a '
                      "registry login needs", code="Settings")
    instance_id = repository.get("instance_id")
    host = repository.get("registry")
    problem = instance_problem(instance_id) or host_problem(host)
    if problem:
        raise CrError(f"the acr_repository state holds no usable registry: {problem}; apply "
                      "the repository first", code="State")
    client = CrClient(settings, settings.region, backoff=backoff)
    username, password, expires = client.authorization(instance_id)
    return RegistryLogin(host, username, password, expires)

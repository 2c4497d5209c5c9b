"""ContainerRegistry: the Alibaba Cloud Container Registry (ACR) APIs the emulator answers besides
ECS, behind the same gateway checks (tests.emulators.aliyun.server).

Enterprise Edition, API 2018-12-01, RPC style (`Action=...&Version=2018-12-01`, signed as ECS is):
CreateNamespace, GetNamespace, UpdateNamespace, DeleteNamespace, CreateRepository, GetRepository,
UpdateRepository, DeleteRepository, ListRepository, GetAuthorizationToken, ListInstanceEndpoint.
Each needs an `InstanceId` the registry knows (`add_instance`), else INSTANCE_NOT_EXIST. Business
errors are answered as CR EE does: HTTP 200, `"IsSuccess": false` and the code (REPO_NOT_EXIST,
NAMESPACE_NOT_EXIST, REPO_NAME_EXIST, NAMESPACE_NAME_EXIST, ...); missing or malformed parameters
are the gateway's HTTP 400 MissingParameter / InvalidParameter.

Personal Edition, API 2016-06-07, ROA style (paths and JSON bodies, `Authorization: acs ID:SIG`):
PUT /namespace, GET|POST|DELETE /namespace/{Namespace}, PUT /repos,
GET|POST|DELETE /repos/{RepoNamespace}/{RepoName}, GET /tokens. Errors are HTTP 4xx with `Code`
and `Message` (404 REPO_NOT_EXIST / NAMESPACE_NOT_EXIST, 409 REPO_NAME_EXIST /
NAMESPACE_NAME_EXIST, 400 for bad bodies).

What a test controls: the registry host each edition reports (`personal_domain`, the `domain` of
an instance: point it at a real local docker-registry, "127.0.0.1:5000"), and the temporary
login GetAuthorizationToken hands out (`login`), so that an image push can use them for real.
`add_namespace` / `add_repository` make objects "in the console" (outside flowplan);
`delete_repository` / `delete_namespace` remove them behind flowplan's back.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

CR_VERSION = "2018-12-01"
PERSONAL_VERSION = "2016-06-07"
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?\Z")
_NAMESPACE = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,28}[a-z0-9])?\Z")
_TYPES = ("PUBLIC", "PRIVATE")


class CrError(Exception):
    """A Container Registry error: `status` is the HTTP status it is answered with."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Login:
    username: str = "cr_temp_user"
    password: str = "emulated-registry-token"
    ttl: int = 3600                              # seconds the token is said to be valid


@dataclass
class RegistryInstance:
    instance_id: str
    domain: str                                  # the registry host pushes go to


@dataclass
class Namespace:
    name: str
    instance_id: str | None                      # None: Personal Edition
    auto_create: bool = False
    default_visibility: str = "PRIVATE"
    namespace_id: str = ""


@dataclass
class Repository:
    namespace: str
    name: str
    instance_id: str | None
    repo_type: str = "PRIVATE"
    summary: str = ""
    detail: str = ""
    tag_immutability: bool = False
    repo_id: str = ""


@dataclass
class ContainerRegistry:
    region: str = "cn-hangzhou"
    personal_domain: str = ""                    # default: registry.REGION.aliyuncs.com
    login: Login = field(default_factory=Login)
    instances: dict[str, RegistryInstance] = field(default_factory=dict)
    namespaces: dict[tuple[str | None, str], Namespace] = field(default_factory=dict)
    repositories: dict[tuple[str | None, str, str], Repository] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.personal_domain = self.personal_domain or f"registry.{self.region}.aliyuncs.com"
        self._lock = threading.RLock()
        self._ids = itertools.count(1)

    # -- test controls ----------------------------------------------------------------------

    def add_instance(self, instance_id: str, domain: str | None = None) -> RegistryInstance:
        instance = RegistryInstance(instance_id, domain or
                                    f"{instance_id}-registry.{self.region}.cr.aliyuncs.com")
        with self._lock:
            self.instances[instance_id] = instance
        return instance

    def add_namespace(self, name: str, instance_id: str | None = None, **fields: Any
                      ) -> Namespace:
        with self._lock:
            namespace = Namespace(name, instance_id, namespace_id=f"crn-{next(self._ids):06d}",
                                  **fields)
            self.namespaces[(instance_id, name)] = namespace
            return namespace

    def add_repository(self, namespace: str, name: str, instance_id: str | None = None,
                       **fields: Any) -> Repository:
        with self._lock:
            if (instance_id, namespace) not in self.namespaces:
                self.add_namespace(namespace, instance_id)
            repository = Repository(namespace, name, instance_id,
                                    repo_id=f"crr-{next(self._ids):06d}", **fields)
            self.repositories[(instance_id, namespace, name)] = repository
            return repository

    def repository(self, namespace: str, name: str, instance_id: str | None = None
                   ) -> Repository | None:
        return self.repositories.get((instance_id, namespace, name))

    def namespace(self, name: str, instance_id: str | None = None) -> Namespace | None:
        return self.namespaces.get((instance_id, name))

    def delete_repository(self, namespace: str, name: str, instance_id: str | None = None
                          ) -> None:
        with self._lock:
            self.repositories.pop((instance_id, namespace, name), None)

    def delete_namespace(self, name: str, instance_id: str | None = None) -> None:
        with self._lock:
            self.namespaces.pop((instance_id, name), None)
            for key in [k for k in self.repositories if k[:2] == (instance_id, name)]:
                del self.repositories[key]

    # -- Enterprise Edition (RPC) -----------------------------------------------------------

    def rpc(self, action: str, params: dict[str, str]) -> dict[str, Any]:
        """Answer one 2018-12-01 action; raises CrError (status 200: a business error)."""
        handler = getattr(self, f"_ee_{action}", None)
        if handler is None:
            raise CrError(404, "InvalidAction.NotFound",
                          "Specified api is not found, please check your url and method.")
        with self._lock:
            instance = self._instance(params)
            answer = handler(instance, params)
        return {**answer, "IsSuccess": True, "Code": "success"}

    def _instance(self, params: dict[str, str]) -> RegistryInstance:
        instance_id = _required(params, "InstanceId")
        instance = self.instances.get(instance_id)
        if instance is None:
            raise CrError(200, "INSTANCE_NOT_EXIST", "instance not exist")
        return instance

    def _ee_namespace(self, instance: RegistryInstance, params: dict[str, str]) -> Namespace:
        name = _required(params, "NamespaceName")
        namespace = self.namespaces.get((instance.instance_id, name))
        if namespace is None:
            raise CrError(200, "NAMESPACE_NOT_EXIST", "namespace not exist")
        return namespace

    def _ee_CreateNamespace(self, instance: RegistryInstance, params: dict[str, str]
                            ) -> dict[str, Any]:
        name = _required(params, "NamespaceName")
        if not _NAMESPACE.match(name):
            raise CrError(200, "NAMESPACE_NAME_ILLEGAL", "namespace name illegal")
        if (instance.instance_id, name) in self.namespaces:
            raise CrError(200, "NAMESPACE_NAME_EXIST", "namespace name already exists")
        namespace = self.add_namespace(
            name, instance.instance_id, auto_create=_boolean(params, "AutoCreateRepo"),
            default_visibility=_repo_type(params, "DefaultRepoType", "PRIVATE"))
        return {"NamespaceId": namespace.namespace_id}

    def _ee_GetNamespace(self, instance: RegistryInstance, params: dict[str, str]
                         ) -> dict[str, Any]:
        namespace = self._ee_namespace(instance, params)
        return {"NamespaceName": namespace.name, "NamespaceId": namespace.namespace_id,
                "InstanceId": instance.instance_id, "NamespaceStatus": "NORMAL",
                "AutoCreateRepo": namespace.auto_create,
                "DefaultRepoType": namespace.default_visibility}

    def _ee_UpdateNamespace(self, instance: RegistryInstance, params: dict[str, str]
                            ) -> dict[str, Any]:
        namespace = self._ee_namespace(instance, params)
        if params.get("AutoCreateRepo"):
            namespace.auto_create = _boolean(params, "AutoCreateRepo")
        if params.get("DefaultRepoType"):
            namespace.default_visibility = _repo_type(params, "DefaultRepoType", "PRIVATE")
        return {}

    def _ee_DeleteNamespace(self, instance: RegistryInstance, params: dict[str, str]
                            ) -> dict[str, Any]:
        namespace = self._ee_namespace(instance, params)
        self.delete_namespace(namespace.name, instance.instance_id)
        return {}

    def _ee_CreateRepository(self, instance: RegistryInstance, params: dict[str, str]
                             ) -> dict[str, Any]:
        namespace = _required(params, "RepoNamespaceName")
        name = _required(params, "RepoName")
        repo_type = _repo_type(params, "RepoType")
        summary = _summary(_required(params, "Summary"))
        if not _NAME.match(name):
            raise CrError(200, "REPO_NAME_ILLEGAL", "repo name illegal")
        if (instance.instance_id, namespace) not in self.namespaces:
            raise CrError(200, "NAMESPACE_NOT_EXIST", "namespace not exist")
        if (instance.instance_id, namespace, name) in self.repositories:
            raise CrError(200, "REPO_NAME_EXIST", "repo name already exists")
        repository = self.add_repository(
            namespace, name, instance.instance_id, repo_type=repo_type, summary=summary,
            detail=_detail(params.get("Detail", "")),
            tag_immutability=_boolean(params, "TagImmutability"))
        return {"RepoId": repository.repo_id}

    def _ee_repository(self, instance: RegistryInstance, params: dict[str, str]) -> Repository:
        repo_id = params.get("RepoId")
        if repo_id:
            found = [r for r in self.repositories.values()
                     if r.instance_id == instance.instance_id and r.repo_id == repo_id]
        else:
            key = (instance.instance_id, _required(params, "RepoNamespaceName"),
                   _required(params, "RepoName"))
            found = [self.repositories[key]] if key in self.repositories else []
        if not found:
            raise CrError(200, "REPO_NOT_EXIST", "repo not exist")
        return found[0]

    @staticmethod
    def _ee_describe(repository: Repository) -> dict[str, Any]:
        return {"RepoId": repository.repo_id, "InstanceId": repository.instance_id,
                "RepoNamespaceName": repository.namespace, "RepoName": repository.name,
                "RepoType": repository.repo_type, "Summary": repository.summary,
                "Detail": repository.detail, "TagImmutability": repository.tag_immutability,
                "RepoStatus": "NORMAL", "RepoBuildType": "MANUAL",
                "CreateTime": 1767225600000, "ModifiedTime": 1767225600000}

    def _ee_GetRepository(self, instance: RegistryInstance, params: dict[str, str]
                          ) -> dict[str, Any]:
        return self._ee_describe(self._ee_repository(instance, params))

    def _ee_UpdateRepository(self, instance: RegistryInstance, params: dict[str, str]
                             ) -> dict[str, Any]:
        _required(params, "RepoId")
        repository = self._ee_repository(instance, params)
        repository.repo_type = _repo_type(params, "RepoType")
        repository.summary = _summary(_required(params, "Summary"))
        if "Detail" in params:
            repository.detail = _detail(params["Detail"])
        if params.get("TagImmutability"):
            repository.tag_immutability = _boolean(params, "TagImmutability")
        return {}

    def _ee_DeleteRepository(self, instance: RegistryInstance, params: dict[str, str]
                             ) -> dict[str, Any]:
        _required(params, "RepoId")
        repository = self._ee_repository(instance, params)
        self.delete_repository(repository.namespace, repository.name, instance.instance_id)
        return {}

    def _ee_ListRepository(self, instance: RegistryInstance, params: dict[str, str]
                           ) -> dict[str, Any]:
        page = _page(params, "PageNo", 1, 100000)
        size = _page(params, "PageSize", 30, 100)
        chosen = sorted((r for r in self.repositories.values()
                         if r.instance_id == instance.instance_id
                         and params.get("RepoNamespaceName") in (None, "", r.namespace)
                         and params.get("RepoName") in (None, "", r.name)),
                        key=lambda r: (r.namespace, r.name))
        shown = chosen[(page - 1) * size:page * size]
        return {"Repositories": [self._ee_describe(r) for r in shown],
                "TotalCount": str(len(chosen)), "PageNo": page, "PageSize": size}

    def _ee_GetAuthorizationToken(self, instance: RegistryInstance, params: dict[str, str]
                                  ) -> dict[str, Any]:
        return {"TempUsername": self.login.username,
                "AuthorizationToken": self.login.password,
                "ExpireTime": int((time.time() + self.login.ttl) * 1000)}

    def _ee_ListInstanceEndpoint(self, instance: RegistryInstance, params: dict[str, str]
                                 ) -> dict[str, Any]:
        return {"Endpoints": [{"EndpointType": "internet", "Enable": True, "Status": "RUNNING",
                               "Domains": [{"Domain": instance.domain, "Type": "SYSTEM"}],
                               "AclEnable": False}]}

    # -- Personal Edition (ROA) -------------------------------------------------------------

    def roa(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        """Answer one 2016-06-07 request (path already decoded); raises CrError."""
        parts = path.strip("/").split("/")
        with self._lock:
            if parts == ["namespace"] and method == "PUT":
                return self._create_namespace(_json(body))
            if len(parts) == 2 and parts[0] == "namespace":
                return self._namespace_call(method, parts[1], body)
            if parts == ["repos"] and method == "PUT":
                return self._create_repo(_json(body))
            if len(parts) == 3 and parts[0] == "repos":
                return self._repo_call(method, parts[1], parts[2], body)
            if parts == ["tokens"] and method == "GET":
                return {"data": {"tempUserName": self.login.username,
                                 "authorizationToken": self.login.password,
                                 "expireDate": int((time.time() + self.login.ttl) * 1000)}}
        raise CrError(404, "InvalidAction.NotFound",
                      "Specified api is not found, please check your url and method.")

    def _create_namespace(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _field(body, "Namespace", "Namespace")
        if not _NAMESPACE.match(name):
            raise CrError(400, "NAMESPACE_NAME_ILLEGAL", "namespace name illegal")
        if (None, name) in self.namespaces:
            raise CrError(409, "NAMESPACE_NAME_EXIST", "namespace name already exists")
        self.add_namespace(name)
        return {"data": {"namespace": name}}

    def _personal_namespace(self, name: str) -> Namespace:
        namespace = self.namespaces.get((None, name))
        if namespace is None:
            raise CrError(404, "NAMESPACE_NOT_EXIST", "namespace not exist")
        return namespace

    def _namespace_call(self, method: str, name: str, body: bytes) -> dict[str, Any]:
        namespace = self._personal_namespace(name)
        if method == "GET":
            return {"data": {"namespace": {
                "namespace": namespace.name, "authorizeType": "ADMIN",
                "namespaceStatus": "NORMAL", "autoCreate": namespace.auto_create,
                "defaultVisibility": namespace.default_visibility}}}
        if method == "POST":
            update = _json(body).get("Namespace")
            if not isinstance(update, dict):
                raise CrError(400, "PARAM_INVALID", "body has no Namespace object")
            if "AutoCreate" in update:
                if not isinstance(update["AutoCreate"], bool):
                    raise CrError(400, "PARAM_INVALID", "AutoCreate must be a boolean")
                namespace.auto_create = update["AutoCreate"]
            if "DefaultVisibility" in update:
                if update["DefaultVisibility"] not in _TYPES:
                    raise CrError(400, "PARAM_INVALID", "DefaultVisibility is PUBLIC or PRIVATE")
                namespace.default_visibility = update["DefaultVisibility"]
            return {"data": {}}
        if method == "DELETE":
            self.delete_namespace(name)
            return {"data": {}}
        raise CrError(404, "InvalidAction.NotFound", "Specified api is not found.")

    def _create_repo(self, body: dict[str, Any]) -> dict[str, Any]:
        namespace = _field(body, "Repo", "RepoNamespace")
        name = _field(body, "Repo", "RepoName")
        repo = body["Repo"]
        repo_type = repo.get("RepoType")
        if repo_type not in _TYPES:
            raise CrError(400, "PARAM_INVALID", "RepoType is PUBLIC or PRIVATE")
        if not _NAME.match(name):
            raise CrError(400, "REPO_NAME_ILLEGAL", "repo name illegal")
        summary = repo.get("Summary")
        if not isinstance(summary, str) or not summary:
            raise CrError(400, "PARAM_INVALID", "Summary is required")
        self._personal_namespace(namespace)
        if (None, namespace, name) in self.repositories:
            raise CrError(409, "REPO_NAME_EXIST", "repo name already exists")
        repository = self.add_repository(namespace, name, repo_type=repo_type,
                                         summary=_summary(summary, 400),
                                         detail=_detail(repo.get("Detail") or "", 400))
        return {"data": {"repoId": int(repository.repo_id.removeprefix("crr-"))}}

    def _repo_call(self, method: str, namespace: str, name: str, body: bytes) -> dict[str, Any]:
        repository = self.repositories.get((None, namespace, name))
        if repository is None:
            raise CrError(404, "REPO_NOT_EXIST", "repo not exist")
        if method == "GET":
            return {"data": {"repo": {
                "repoId": int(repository.repo_id.removeprefix("crr-")),
                "repoNamespace": repository.namespace, "repoName": repository.name,
                "repoType": repository.repo_type, "summary": repository.summary,
                "detail": repository.detail, "repoStatus": "NORMAL", "regionId": self.region,
                "repoDomainList": {"public": self.personal_domain,
                                   "internal": f"registry-internal.{self.region}.aliyuncs.com",
                                   "vpc": f"registry-vpc.{self.region}.aliyuncs.com"}}}}
        if method == "POST":
            update = _json(body).get("Repo")
            if not isinstance(update, dict):
                raise CrError(400, "PARAM_INVALID", "body has no Repo object")
            if "RepoType" in update:
                if update["RepoType"] not in _TYPES:
                    raise CrError(400, "PARAM_INVALID", "RepoType is PUBLIC or PRIVATE")
                repository.repo_type = update["RepoType"]
            if "Summary" in update:
                repository.summary = _summary(update["Summary"], 400)
            if "Detail" in update:
                repository.detail = _detail(update["Detail"], 400)
            return {"data": {}}
        if method == "DELETE":
            self.delete_repository(namespace, name)
            return {"data": {}}
        raise CrError(404, "InvalidAction.NotFound", "Specified api is not found.")


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise CrError(400, "MissingParameter",
                      f'The input parameter "{name}" that is mandatory for processing this '
                      "request is not supplied.")
    return value


def _boolean(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise CrError(400, "InvalidParameter", f'The specified parameter "{name}" is not valid.')
    return value == "true"


def _repo_type(params: dict[str, str], name: str, default: str | None = None) -> str:
    value = params.get(name) or default
    if value is None:
        return _required(params, name)
    if value not in _TYPES:
        raise CrError(400, "InvalidParameter", f'The specified parameter "{name}" is not valid.')
    return value


def _summary(value: Any, status: int = 200) -> str:
    if not isinstance(value, str) or len(value) > 100:
        raise CrError(status, "PARAM_INVALID", "summary is at most 100 characters")
    return value


def _detail(value: Any, status: int = 200) -> str:
    if not isinstance(value, str) or len(value) > 2000:
        raise CrError(status, "PARAM_INVALID", "detail is at most 2000 characters")
    return value


def _page(params: dict[str, str], name: str, default: int, high: int) -> int:
    text = params.get(name)
    if not text:
        return default
    if not re.fullmatch(r"\d{1,6}", text) or not 1 <= int(text) <= high:
        raise CrError(400, "InvalidParameter", f'The specified parameter "{name}" is not valid.')
    return int(text)


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise CrError(400, "PARAM_INVALID", "the body is not a JSON object")
    return data


def _field(body: dict[str, Any], outer: str, name: str) -> str:
    inner = body.get(outer)
    value = inner.get(name) if isinstance(inner, dict) else None
    if not isinstance(value, str) or not value:
        raise CrError(400, "PARAM_INVALID", f"{outer}.{name} is required")
    return value

"""KubernetesEmulator: an API server on 127.0.0.1 that the official Python client and kubectl
talk to over HTTPS (a CA of its own, certificates.py) or plain HTTP, with bearer tokens.

    emulator = KubernetesEmulator(directory, ready_delay=0.2)     # started; .stop() ends it
    emulator.url, emulator.token, emulator.ca_file
    emulator.objects("Deployment", "default")     # what is stored, as dicts
    emulator.expire_token(token)                  # later requests with it: 401
    emulator.set_ready_delay(seconds)             # for every pod not yet ready
    emulator.answer_once("GET", "/apis/apps/v1/namespaces/default/deployments/web", 200,
                         b"{not json")            # a fault: the next such request gets this
    emulator.requests                             # (method, path, query, content type), no tokens

Routes: /version, /healthz, /livez, /readyz; discovery (discovery.py); /openapi/v3 as far as
kubectl needs it and /openapi/v2 (openapi.py); objects at /api/v1/... and
/apis/GROUP/VERSION/... (operations.py); watches (watch.py); the Tables `kubectl get` asks for
(tables.py). Errors are Status objects (errors.py); a body over 3 MiB is 413, as on a real API
server. The controller loop (controller.py) runs in a thread.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import discovery, openapi, tables
from .certificates import make_tls_files
from .controller import Controller
from .discovery import find_by_kind
from .errors import ApiError, bad_request, resource_not_served, unauthorized
from .operations import NAMESPACES, Operations, Target, WriteOptions, parse_body
from .store import ObjectStore
from .watch import Watch

MAX_BODY = 3 * 1024 * 1024
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str


@dataclass
class CannedAnswer:
    method: str
    path: str
    status: int
    body: bytes
    content_type: str


class KubernetesEmulator:
    def __init__(self, directory: Path, *, ready_delay: float = 0.2, tls: bool = True,
                 port: int = 0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.store = ObjectStore()
        self.operations = Operations(self.store)
        self.token = secrets.token_urlsafe(32)
        self._tokens = {self.token: True}          # token -> still valid
        self._canned: list[CannedAnswer] = []
        self._stopping = threading.Event()
        self._requests_lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        for name in INITIAL_NAMESPACES:
            self.operations.create(Target(NAMESPACES), {"metadata": {"name": name}},
                                   WriteOptions("kube-apiserver"))
        self.tls_files = make_tls_files(self.directory) if tls else None
        self._http = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._http.daemon_threads = True
        if self.tls_files is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls_files.certificate_file, self.tls_files.key_file)
            context.set_alpn_protocols(["http/1.1"])
            self._http.socket = context.wrap_socket(self._http.socket, server_side=True,
                                                    do_handshake_on_connect=False)
        self.port = self._http.server_address[1]
        self.controller = Controller(self.store, ready_delay)
        self._thread = threading.Thread(target=self._http.serve_forever, name="kube-apiserver",
                                        daemon=True)
        self._thread.start()
        self.controller.start()

    # what tests use

    @property
    def url(self) -> str:
        return f"{'https' if self.tls_files else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path | None:
        return self.tls_files.ca_file if self.tls_files else None

    def stop(self) -> None:
        self._stopping.set()
        self.controller.stop()
        self._http.shutdown()
        self._http.server_close()

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        resource_type = find_by_kind(kind)
        if resource_type is None:
            raise KeyError(f"the emulator serves no kind {kind!r}")
        return self.store.list(resource_type, namespace)

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = True
        return token

    def expire_token(self, token: str) -> None:
        self._tokens[token] = False

    def set_ready_delay(self, seconds: float) -> None:
        self.controller.ready_delay = seconds

    def answer_once(self, method: str, path: str, status: int, body: bytes | str,
                    content_type: str = "application/json") -> None:
        self._canned.append(CannedAnswer(method.upper(), path, status,
                                         body.encode() if isinstance(body, str) else body,
                                         content_type))

    def count(self, method: str | None = None, path_contains: str = "") -> int:
        with self._requests_lock:
            return sum(1 for request in self.requests
                       if method in (None, request.method) and path_contains in request.path)

    # HTTP

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "kube-apiserver-emulator"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def setup(self) -> None:
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.settimeout(10)
                    try:
                        self.request.do_handshake()
                    except (ssl.SSLError, OSError):
                        self.close_connection = True
                super().setup()

            def handle(self) -> None:
                try:
                    super().handle()
                except (ssl.SSLError, ConnectionError, TimeoutError):
                    pass

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_PUT(self) -> None:
                self._answer("PUT")

            def do_PATCH(self) -> None:
                self._answer("PATCH")

            def do_DELETE(self) -> None:
                self._answer("DELETE")

            def _answer(self, method: str) -> None:
                length = self.headers.get("Content-Length", "0")
                if not length.isdigit():
                    return self._send(400, bad_request("invalid Content-Length").status())
                if int(length) > MAX_BODY:
                    self.close_connection = True
                    return self._send(413, ApiError(
                        413, "RequestEntityTooLarge",
                        "the request body is too large (over 3 MiB)").status())
                body = self.rfile.read(int(length)) if int(length) else b""
                if urlsplit(self.path).path == "/openapi/v2" and \
                        emulator._authorized(self.headers.get("Authorization")) and \
                        "protobuf" in self.headers.get("Accept", ""):
                    return self._send_raw(200, openapi.v2_protobuf(),
                                          "application/com.github.proto-openapi.spec.v2.v1.0"
                                          "+protobuf")
                canned = emulator._take_canned(method, urlsplit(self.path).path,
                                               self.headers.get("Authorization"))
                if canned is not None:
                    return self._send_raw(canned.status, canned.body, canned.content_type)
                try:
                    status, answer = emulator.handle(method, self.path, dict(self.headers), body)
                except ApiError as error:
                    status, answer = error.code, error.status()
                except Exception as error:      # a bug here: answered as the API server would
                    status, answer = 500, ApiError(
                        500, "InternalError", f"an error on the server ({type(error).__name__}: "
                        f"{error}) has prevented the request from succeeding").status()
                if isinstance(answer, Watch):
                    return self._stream(answer)
                self._send(status, answer)

            def _stream(self, watch: Watch) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for line in watch.lines():
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (ConnectionError, ssl.SSLError, OSError):
                    self.close_connection = True

            def _send(self, status: int, answer: dict[str, Any]) -> None:
                self._send_raw(status, json.dumps(answer).encode(), "application/json")

            def _send_raw(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Audit-Id", secrets.token_hex(8))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _take_canned(self, method: str, path: str,
                     authorization: str | None) -> CannedAnswer | None:
        if not self._authorized(authorization):
            return None
        for index, canned in enumerate(self._canned):
            if canned.method == method and canned.path == path:
                return self._canned.pop(index)
        return None

    def _authorized(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and self._tokens.get(token.strip(), False)

    def handle(self, method: str, target: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, Any] | Watch]:
        parts = urlsplit(target)
        path, query = unquote(parts.path), parse_qs(parts.query)
        lowered = {key.lower(): value for key, value in headers.items()}
        content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
        with self._requests_lock:
            self.requests.append(RecordedRequest(method, path, query, content_type))
        if not self._authorized(lowered.get("authorization")):
            raise unauthorized()
        path = path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, {"kind": "Status", "status": "Success", "message": "ok"}
        if path == "/version":
            return 200, discovery.VERSION_INFO
        if method == "GET":
            document = self._discovery(path)
            if document is not None:
                return 200, document
        route = _route(path)
        if route is None:
            raise resource_not_served()
        answer = self._operate(method, route, query, content_type, body,
                               lowered.get("user-agent", ""))
        if isinstance(answer, Watch):
            return 200, answer
        if method == "GET" and "as=Table" in lowered.get("accept", "") and not route.subresource:
            objects = [answer] if route.name else answer["items"]
            return 200, tables.table(route.resource_type.kind, objects, self.store.revision)
        return (201 if method == "POST" else 200), answer

    def _discovery(self, path: str) -> dict[str, Any] | None:
        if path == "/openapi/v2":
            return openapi.v2_json()
        if path == "/openapi/v3":
            return openapi.root()
        if path.startswith("/openapi/v3/"):
            return openapi.document(path.removeprefix("/openapi/v3/"))
        if path == "/api":
            return discovery.api_versions(f"127.0.0.1:{self.port}")
        if path == "/apis":
            return discovery.api_group_list()
        segments = path.strip("/").split("/")
        if segments[0] == "api" and len(segments) == 2:
            return discovery.api_resource_list("", segments[1])
        if segments[0] == "apis" and len(segments) == 2:
            return discovery.api_group(segments[1])
        if segments[0] == "apis" and len(segments) == 3:
            return discovery.api_resource_list(segments[1], segments[2])
        return None

    def _operate(self, method: str, target: Target, query: dict[str, list[str]],
                 content_type: str, body: bytes, user_agent: str) -> dict[str, Any] | Watch:
        def single(name: str) -> str:
            return (query.get(name) or [""])[-1]

        dry_run = query.get("dryRun") or []
        if any(value != "All" for value in dry_run):
            raise bad_request(f'dryRun: Unsupported value: "{dry_run[0]}": supported values: '
                              '"All"')
        if single("fieldValidation") not in ("", "Strict", "Warn", "Ignore"):
            raise bad_request(f'fieldValidation: invalid value "{single("fieldValidation")}"')
        force = single("force").lower()
        if force not in ("", "true", "false"):
            raise bad_request(f'force: invalid value "{single("force")}": expected true or false')
        manager = single("fieldManager")
        if not manager and content_type != "application/apply-patch+yaml":
            manager = user_agent.split("/")[0] or "unknown"      # as the API server names it
        options = WriteOptions(manager, dry_run=bool(dry_run), force=force == "true")
        operations = self.operations
        if method == "GET" and single("watch") in ("true", "1"):
            return Watch(self.store, target, query, self._stopping)
        if method == "GET":
            if target.name:
                return operations.get(target)
            return operations.list(target, single("labelSelector"), single("fieldSelector"))
        if method == "POST" and not target.name:
            return operations.create(target, parse_body(body, content_type or
                                                         "application/json"), options)
        if not target.name:
            raise ApiError(405, "MethodNotAllowed",
                           f"the server does not allow this method on the requested resource")
        if method == "PUT":
            return operations.replace(target, parse_body(body, content_type or
                                                          "application/json"), options)
        if method == "PATCH":
            return operations.patch(target, content_type, body, options)
        if method == "DELETE":
            parsed = parse_body(body, content_type or "application/json") \
                if body.strip() else None
            propagation = single("propagationPolicy")
            if single("orphanDependents") == "true":
                propagation = "Orphan"
            return operations.delete(target, parsed, bool(dry_run), propagation)
        raise ApiError(405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource")


def _route(path: str) -> Target | None:
    segments = path.strip("/").split("/")
    if segments[0] == "api" and len(segments) >= 3:
        group, version, rest = "", segments[1], segments[2:]
    elif segments[0] == "apis" and len(segments) >= 4:
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        return None
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        candidate = discovery.find_by_plural(group, version, rest[2])
        if candidate is not None and candidate.namespaced:
            namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    resource_type = discovery.find_by_plural(group, version, rest[0])
    if resource_type is None or (resource_type.namespaced and not namespace and len(rest) > 1):
        return None
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and subresource not in resource_type.subresources:
        return None
    return Target(resource_type, namespace, name, subresource)

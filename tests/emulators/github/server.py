"""GithubEmulator: an HTTP server answering the repository-webhook endpoints of the GitHub REST API
(https://docs.github.com/en/rest/repos/webhooks) as GitHub does.

    GET    /repos/{owner}/{repo}/hooks              list, paged (per_page, page; Link header)
    POST   /repos/{owner}/{repo}/hooks              create (201)
    GET    /repos/{owner}/{repo}/hooks/{hook_id}    one hook
    PATCH  /repos/{owner}/{repo}/hooks/{hook_id}    update (config replaced when given;
                                                    events, add_events, remove_events, active)
    DELETE /repos/{owner}/{repo}/hooks/{hook_id}    delete (204)

Checks, in GitHub's order: the API version header when sent (`X-GitHub-Api-Version`, 400 for an
unsupported one); `Authorization: Bearer T` or `token T` (401 `Requires authentication` without,
`Bad credentials` for another token); the repository exists (404 `Not Found`, as GitHub answers
for a repository the token cannot see); a body is JSON (`Content-Type: application/json`, else
415; unparsable 400 `Problems parsing JSON`; over 1 MiB 413); then the hook's validation (422
`Validation Failed` with `errors`: unknown events, a config without url, a url that is not http(s),
a content type other than json/form, and `Hook already exists on this repository` for a second
hook with the same URL). Hooks come back as GitHub shows them, the secret as `********`.

Faults a test queues (`fail`, `answer`) replace the next answers after authentication: 5xx, HTML
pages, garbage, huge bodies. Every request is recorded (`requests`, without the token).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MAX_BODY = 1024 * 1024
API_VERSIONS = ("2022-11-28", "2026-03-10")
DOCS = "https://docs.github.com/rest/repos/webhooks"
# The events a repository hook may subscribe to (GitHub's list, abridged to the common ones).
EVENTS = frozenset({
    "*", "push", "pull_request", "pull_request_review", "pull_request_review_comment",
    "create", "delete", "release", "issues", "issue_comment", "commit_comment", "deployment",
    "deployment_status", "fork", "gollum", "label", "member", "meta", "milestone", "package",
    "page_build", "ping", "project", "public", "registry_package", "repository", "star",
    "status", "watch", "workflow_dispatch", "workflow_job", "workflow_run", "check_run",
    "check_suite", "code_scanning_alert", "discussion", "discussion_comment", "merge_group",
    "branch_protection_rule", "repository_dispatch", "secret_scanning_alert", "security_advisory",
    "team_add"})
_HOOKS = re.compile(r"/repos/([^/]+)/([^/]+)/hooks(?:/([^/]+))?/?\Z")


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict] | None = None):
        super().__init__(f"{status} {message}")
        self.status, self.message, self.errors = status, message, errors


@dataclass
class Hook:
    id: int
    events: list[str]
    active: bool
    config: dict[str, Any]                 # url, content_type, insecure_ssl, secret (kept)
    created_at: str
    updated_at: str

    def shown(self, base: str, repository: str) -> dict[str, Any]:
        config = {k: v for k, v in self.config.items() if k != "secret"}
        if self.config.get("secret"):
            config["secret"] = "********"
        url = f"{base}/repos/{repository}/hooks/{self.id}"
        return {"type": "Repository", "id": self.id, "name": "web", "active": self.active,
                "events": list(self.events), "config": config,
                "updated_at": self.updated_at, "created_at": self.created_at, "url": url,
                "test_url": f"{url}/test", "ping_url": f"{url}/pings",
                "deliveries_url": f"{url}/deliveries",
                "last_response": {"code": None, "status": "unused", "message": None}}


@dataclass
class Answer:
    """A canned answer given instead of the next `times` requests (after authentication)."""

    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    times: int = 1


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    status: int
    body: Any = None                       # the parsed JSON body, when there was one
    headers: dict[str, str] = field(default_factory=dict)   # without Authorization


class GithubEmulator:
    """The emulated hooks API on 127.0.0.1 for one token; a context manager, or start()/stop()."""

    def __init__(self, token: str, repositories: tuple[str, ...] = ("octo-org/app",), *,
                 host: str = "127.0.0.1", port: int = 0):
        self.token = token
        self.repositories: dict[str, dict[int, Hook]] = {r.lower(): {} for r in repositories}
        self.requests: list[RecordedRequest] = []
        self.answers: list[Answer] = []
        self._next_id = 400000001
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "GithubEmulator":
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="github emulator")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "GithubEmulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls --------------------------------------------------------------------------

    def add_repository(self, repository: str) -> None:
        with self._lock:
            self.repositories.setdefault(repository.lower(), {})

    def hooks(self, repository: str) -> dict[int, Hook]:
        """The hooks of `repository` by id (the emulator's own objects: secrets in clear)."""
        return self.repositories[repository.lower()]

    def add_hook(self, repository: str, url: str, events: list[str] = ("push",),
                 secret: str | None = None, active: bool = True,
                 content_type: str = "json") -> Hook:
        """A hook registered by hand in GitHub's settings page."""
        with self._lock:
            hook = self._new_hook(list(events), active, {
                "url": url, "content_type": content_type, "insecure_ssl": "0",
                **({"secret": secret} if secret else {})})
            self.hooks(repository)[hook.id] = hook
            return hook

    def delete_hook(self, repository: str, hook_id: int | str) -> None:
        """Deleted by hand, behind flowplan's back."""
        with self._lock:
            self.hooks(repository).pop(int(hook_id), None)

    def edit_hook(self, repository: str, hook_id: int | str, **changes: Any) -> None:
        """Changed by hand: `events`, `active`, or config keys (`url`, `content_type`, ...)."""
        with self._lock:
            hook = self.hooks(repository)[int(hook_id)]
            for key, value in changes.items():
                if key in ("events", "active"):
                    setattr(hook, key, value)
                else:
                    hook.config[key] = value

    def fail(self, times: int = 1, status: int = 502) -> None:
        """Answer the next `times` requests with a GitHub-style server error."""
        message = {500: "Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        self.answer(status, json.dumps({"message": message.get(status, "Server Error")}),
                    times=times)

    def answer(self, status: int, body: str | bytes, content_type: str =
               "application/json; charset=utf-8", times: int = 1) -> None:
        """Answer the next `times` requests with this status and body, whatever they ask."""
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self.answers.append(Answer(status, data, content_type, times))

    def count(self, method: str | None = None) -> int:
        return sum(1 for r in self.requests if method is None or r.method == method)

    # -- HTTP -----------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "GitHub.com"
            sys_version = ""

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_PATCH(self) -> None:
                self._answer("PATCH")

            def do_DELETE(self) -> None:
                self._answer("DELETE")

            def do_PUT(self) -> None:
                self._answer("PUT")

            def _answer(self, method: str) -> None:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0 or length > MAX_BODY:
                    self._send(413 if length > 0 else 400, json.dumps(
                        {"message": "Request body too large" if length > 0
                         else "Invalid Content-Length"}).encode(), "application/json")
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                status, data, kind, extra = emulator.handle(method, self.path,
                                                            dict(self.headers.items()), body)
                self._send(status, data, kind, extra)

            def _send(self, status: int, data: bytes, kind: str,
                      extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                if status != 204:
                    self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, bytes, str, dict[str, str]]:
        """Answer one request: (status, body, content type, extra headers)."""
        split = urlsplit(target)
        lowered = {k.lower(): v for k, v in headers.items()}
        parsed: Any = None
        extra: dict[str, str] = {}
        try:
            version = lowered.get("x-github-api-version")
            if version is not None and version not in API_VERSIONS:
                raise ApiError(400, f"API version {version} is not supported.")
            self._authenticate(lowered.get("authorization"))
            canned = self._canned()
            if canned is not None:
                self._record(method, split.path, canned.status, None, lowered)
                return canned.status, canned.body, canned.content_type, {}
            match = _HOOKS.match(split.path)
            if match is None:
                raise ApiError(404, "Not Found")
            owner, name, hook_id = match.groups()
            repository = f"{owner}/{name}".lower()
            if repository not in self.repositories:
                raise ApiError(404, "Not Found")
            if method in ("POST", "PATCH"):
                parsed = self._json(lowered.get("content-type", ""), body)
            with self._lock:
                status, answer = self._route(method, repository, hook_id, parsed,
                                             dict(parse_qsl(split.query)), extra)
            self._record(method, split.path, status, parsed, lowered)
            data = b"" if answer is None else json.dumps(answer).encode()
            return status, data, "application/json; charset=utf-8", extra
        except ApiError as error:
            self._record(method, split.path, error.status, parsed, lowered)
            answer = {"message": error.message, "documentation_url": DOCS,
                      "status": str(error.status)}
            if error.errors:
                answer["errors"] = error.errors
            return error.status, json.dumps(answer).encode(), \
                "application/json; charset=utf-8", {}

    def _authenticate(self, authorization: str | None) -> None:
        if not authorization:
            raise ApiError(401, "Requires authentication")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "token") or token.strip() != self.token:
            raise ApiError(401, "Bad credentials")

    def _canned(self) -> Answer | None:
        with self._lock:
            if not self.answers:
                return None
            answer = self.answers[0]
            answer.times -= 1
            if answer.times <= 0:
                self.answers.pop(0)
            return answer

    @staticmethod
    def _json(content_type: str, body: bytes) -> Any:
        kind = content_type.split(";")[0].strip().lower()
        if body and kind not in ("application/json", "application/vnd.github+json"):
            raise ApiError(415, "Unsupported 'Content-Type' header: send application/json")
        try:
            parsed = json.loads(body) if body else {}
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Problems parsing JSON") from None
        if not isinstance(parsed, dict):
            raise ApiError(400, "Problems parsing JSON")
        return parsed

    def _route(self, method: str, repository: str, hook_id: str | None, body: Any,
               query: dict[str, str], extra: dict[str, str]) -> tuple[int, Any]:
        hooks = self.repositories[repository]
        if hook_id is None:
            if method == "GET":
                return 200, self._page(repository, hooks, query, extra)
            if method == "POST":
                return 201, self._create(repository, hooks, body)
            raise ApiError(404, "Not Found")
        if not hook_id.isdigit() or int(hook_id) not in hooks:
            raise ApiError(404, "Not Found")
        hook = hooks[int(hook_id)]
        if method == "GET":
            return 200, hook.shown(self.base_url, repository)
        if method == "PATCH":
            return 200, self._update(repository, hooks, hook, body)
        if method == "DELETE":
            del hooks[hook.id]
            return 204, None
        raise ApiError(404, "Not Found")

    def _page(self, repository: str, hooks: dict[int, Hook], query: dict[str, str],
              extra: dict[str, str]) -> list[dict]:
        try:
            per_page = min(100, max(1, int(query.get("per_page", 30))))
            page = max(1, int(query.get("page", 1)))
        except ValueError:
            raise ApiError(400, "Invalid pagination parameters") from None
        ordered = [hooks[i] for i in sorted(hooks)]
        last = max(1, -(-len(ordered) // per_page))
        links = []
        base = f"{self.base_url}/repos/{repository}/hooks?per_page={per_page}"
        if page < last:
            links.append(f'<{base}&page={page + 1}>; rel="next"')
            links.append(f'<{base}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{base}&page={page - 1}>; rel="prev"')
            links.append(f'<{base}&page=1>; rel="first"')
        if links:
            extra["Link"] = ", ".join(links)
        chosen = ordered[(page - 1) * per_page: page * per_page]
        return [hook.shown(self.base_url, repository) for hook in chosen]

    def _create(self, repository: str, hooks: dict[int, Hook], body: dict) -> dict:
        name = body.get("name", "web")
        if name != "web":
            raise _invalid("name", f"Name {name!r} is not a valid hook name; use \"web\"")
        config = self._config(body.get("config"), required=True)
        events = self._events(body.get("events", ["push"]))
        active = self._active(body.get("active", True))
        if any(h.config.get("url") == config["url"] for h in hooks.values()):
            raise _invalid(None, "Hook already exists on this repository")
        hook = self._new_hook(events, active, config)
        hooks[hook.id] = hook
        return hook.shown(self.base_url, repository)

    def _update(self, repository: str, hooks: dict[int, Hook], hook: Hook, body: dict) -> dict:
        config = self._config(body["config"], required=True) if "config" in body else None
        events = self._events(body["events"]) if "events" in body else list(hook.events)
        events += [e for e in self._events(body.get("add_events", []), allow_empty=True)
                   if e not in events]
        removed = self._events(body.get("remove_events", []), allow_empty=True)
        events = [e for e in events if e not in removed]
        if not events:
            raise _invalid("events", "Events must not be empty")
        active = self._active(body.get("active", hook.active))
        if config is not None and any(h.id != hook.id and h.config.get("url") == config["url"]
                                      for h in hooks.values()):
            raise _invalid(None, "Hook already exists on this repository")
        if config is not None:
            hook.config = config
        hook.events, hook.active = events, active
        hook.updated_at = _now()
        return hook.shown(self.base_url, repository)

    def _new_hook(self, events: list[str], active: bool, config: dict) -> Hook:
        hook_id = self._next_id
        self._next_id += 1
        return Hook(hook_id, events, active, config, _now(), _now())

    @staticmethod
    def _config(config: Any, required: bool) -> dict[str, Any]:
        if not isinstance(config, dict):
            raise _invalid("config", "Config must be an object", code="invalid")
        url = config.get("url")
        if not url:
            raise _invalid("config", "Config must contain URL", code="missing_field")
        split = urlsplit(url) if isinstance(url, str) else None
        if split is None or split.scheme not in ("http", "https") or not split.hostname:
            raise _invalid("config", f"Config URL {str(url)[:100]!r} is not a valid URL")
        content_type = config.get("content_type", "form")
        if content_type not in ("json", "form"):
            raise _invalid("config", "Content type must be json or form")
        insecure_ssl = str(config.get("insecure_ssl", "0"))
        if insecure_ssl not in ("0", "1"):
            raise _invalid("config", "Insecure SSL must be 0 or 1")
        kept = {"url": url, "content_type": content_type, "insecure_ssl": insecure_ssl}
        secret = config.get("secret")
        if secret:
            if not isinstance(secret, str):
                raise _invalid("config", "Secret must be a string")
            kept["secret"] = secret
        return kept

    @staticmethod
    def _events(events: Any, allow_empty: bool = False) -> list[str]:
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise _invalid("events", "Events must be a list of strings", code="invalid")
        bad = [e for e in events if e not in EVENTS]
        if bad:
            raise _invalid("events", f"Invalid event: {bad[0][:60]!r}", code="invalid")
        if not events and not allow_empty:
            raise _invalid("events", "Events must not be empty")
        return list(dict.fromkeys(events))

    @staticmethod
    def _active(active: Any) -> bool:
        if not isinstance(active, bool):
            raise _invalid("active", "Active must be a boolean", code="invalid")
        return active

    def _record(self, method: str, path: str, status: int, body: Any,
                headers: dict[str, str]) -> None:
        shown = {k: v for k, v in headers.items() if k != "authorization"}
        with self._lock:
            self.requests.append(RecordedRequest(method, path, status, body, shown))


def _invalid(field_name: str | None, message: str, code: str = "custom") -> ApiError:
    error = {"resource": "Hook", "code": code, "message": message}
    if field_name:
        error["field"] = field_name
    return ApiError(422, "Validation Failed", [error])


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

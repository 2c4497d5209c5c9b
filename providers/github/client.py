"""HooksClient: the repository-webhook endpoints of the GitHub REST API, over httpx.

    client = HooksClient(settings)                      # GithubSettings: token, base_url
    hook = client.create("octo/app", events=["push"], active=True, url=..., secret=...)
    client.get("octo/app", hook.id)                      # None when it is gone (404)
    client.update("octo/app", hook.id, ...); client.delete("octo/app", hook.id)

Repository names and hook ids are checked before any request (`check_repository`,
`check_hook_id`): `owner/name` as GitHub spells them, so no `..`, extra `/`, `%` or other text can
steer a request to another path. Connection failures, timeouts, 429 and 5xx answers are retried a
bounded number of times with jittered exponential backoff; 4xx answers (401 bad credentials, 403,
404, 422 validation) never are. Answers are read up to MAX_ANSWER bytes and must be JSON.

A failure is a GithubError whose message names the repository, the HTTP status and GitHub's own
message (with `errors` for a 422), and never the token: the token is only ever put in the
Authorization header, and any text from the server is scrubbed of it before it is shown (a
hostile or broken server could echo it back).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import quote

if TYPE_CHECKING:
    import httpx

# httpx is imported where a request is made, not here: importing it costs about 0.2 s, and every
# flowplan command loads this provider (its schema) while few of them talk to GitHub.

from .settings import GithubSettings

API_VERSION = "2022-11-28"
MAX_ANSWER = 1024 * 1024                    # bytes of an answer read at most
MAX_SHOWN = 300                             # characters of the server's message shown at most
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_PAGES = 50                              # hooks lists: 100 per page, GitHub allows 20 hooks

_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\Z")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}\Z")
_HOOK_ID = re.compile(r"[1-9][0-9]{0,19}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class GithubError(Exception):
    """A request that failed; `status` is GitHub's HTTP status (None: no answer), `message` the
    text for the person, already free of the token."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


def check_repository(repository: Any) -> str | None:
    """Why `repository` is not `owner/name` as GitHub spells it, or None."""
    if not isinstance(repository, str):
        return "the repository must be text such as \"octo-org/app\""
    owner, slash, name = repository.partition("/")
    if not slash or "/" in name:
        return f"{_shown(repository)!r} is not OWNER/NAME (such as \"octo-org/app\")"
    if not _OWNER.match(owner):
        return (f"{_shown(owner)!r} is not a GitHub owner name (letters, digits and single "
                "hyphens, at most 39 characters)")
    if not _NAME.match(name) or name in (".", "..") or name.endswith(".git"):
        return (f"{_shown(name)!r} is not a GitHub repository name (letters, digits, '.', '-' "
                "and '_', not '.' or '..', without .git)")
    return None


def check_hook_id(hook_id: Any) -> str | None:
    """Why `hook_id` is not a GitHub hook id (a positive decimal number), or None."""
    if isinstance(hook_id, int) and not isinstance(hook_id, bool) and hook_id > 0:
        return None
    if isinstance(hook_id, str) and _HOOK_ID.match(hook_id):
        return None
    return f"{_shown(str(hook_id))!r} is not a GitHub hook id (a number such as 12345678)"


@dataclass(frozen=True)
class Hook:
    """A repository hook as GitHub describes it (the secret is never returned)."""

    id: str
    events: tuple[str, ...]
    active: bool
    url: str
    content_type: str
    insecure_ssl: str

    @classmethod
    def from_answer(cls, answer: Any, repository: str) -> "Hook":
        try:
            config = answer["config"]
            hook_id = answer["id"]
            if check_hook_id(hook_id) is not None or not isinstance(config, dict):
                raise TypeError
            events = answer.get("events", [])
            if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
                raise TypeError
            return cls(str(hook_id), tuple(events), bool(answer.get("active", True)),
                       str(config.get("url", "")), str(config.get("content_type", "form")),
                       str(config.get("insecure_ssl", "0")))
        except (KeyError, TypeError):
            raise GithubError(f"GitHub answered for {repository} with something that is not a "
                              "hook (no id, config or events)") from None


@dataclass(frozen=True)
class Backoff:
    """How failed requests are retried: `attempts` in all, waiting about `base` * 2^n seconds
    (jittered, at most `cap`) between them."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 8.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wanted = min(self.cap, self.base * 2 ** attempt)
        if retry_after is not None:
            return min(self.cap, max(0.0, retry_after))
        return random.uniform(wanted / 2, wanted)


class HooksClient:
    """The hooks endpoints of one GitHub API; one instance serves every apply thread (httpx's
    Client is thread-safe)."""

    def __init__(self, settings: GithubSettings, *, backoff: Backoff | None = None,
                 timeout: float = 15.0, transport: httpx.BaseTransport | None = None):
        import httpx

        if not settings.token:
            raise ValueError("HooksClient needs a token")
        self._token = settings.token
        self.base_url = settings.base_url.rstrip("/")
        self.backoff = backoff or Backoff()
        self._lock = threading.Lock()
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": API_VERSION,
                     "User-Agent": "flowplan",
                     "Authorization": f"Bearer {self._token}"},
            follow_redirects=False, transport=transport)

    def close(self) -> None:
        self._http.close()

    # -- the endpoints --------------------------------------------------------------------------

    def create(self, repository: str, *, events: list[str], active: bool, url: str,
               secret: str | None) -> Hook:
        """POST /repos/{owner}/{repo}/hooks: a `web` hook sending JSON to `url`."""
        body = {"name": "web", "active": active, "events": list(events),
                "config": _config(url, secret)}
        answer = self._request("POST", repository, "/hooks", body, (201,))
        return Hook.from_answer(answer, repository)

    def get(self, repository: str, hook_id: str) -> Hook | None:
        """GET /repos/{owner}/{repo}/hooks/{id}; None when GitHub says 404 (deleted, or the
        repository is gone or out of the token's reach)."""
        self._check_id(hook_id)
        try:
            answer = self._request("GET", repository, f"/hooks/{hook_id}", None, (200,))
        except GithubError as error:
            if error.status == 404:
                return None
            raise
        return Hook.from_answer(answer, repository)

    def update(self, repository: str, hook_id: str, *, events: list[str], active: bool,
               url: str, secret: str | None) -> Hook:
        """PATCH /repos/{owner}/{repo}/hooks/{id} with the whole config (the secret too: a
        config sent without one would drop it)."""
        self._check_id(hook_id)
        body = {"active": active, "events": list(events), "config": _config(url, secret)}
        answer = self._request("PATCH", repository, f"/hooks/{hook_id}", body, (200,))
        return Hook.from_answer(answer, repository)

    def delete(self, repository: str, hook_id: str) -> bool:
        """DELETE /repos/{owner}/{repo}/hooks/{id}; False when it was already gone."""
        self._check_id(hook_id)
        try:
            self._request("DELETE", repository, f"/hooks/{hook_id}", None, (204,))
        except GithubError as error:
            if error.status == 404:
                return False
            raise
        return True

    def list(self, repository: str) -> list[Hook]:
        """GET /repos/{owner}/{repo}/hooks, every page (following the Link header's `next`)."""
        hooks: list[Hook] = []
        path: str | None = "/hooks?per_page=100"
        for _ in range(MAX_PAGES):
            if path is None:
                return hooks
            answer, next_url = self._request_page(repository, path)
            if not isinstance(answer, list):
                raise GithubError(f"GitHub answered the hooks list of {repository} with "
                                  "something that is not a list")
            hooks += [Hook.from_answer(item, repository) for item in answer]
            path = next_url
        return hooks

    # -- HTTP -----------------------------------------------------------------------------------

    def _check_id(self, hook_id: str) -> None:
        problem = check_hook_id(hook_id)
        if problem:
            raise GithubError(problem)

    def _url(self, repository: str, path: str) -> str:
        problem = check_repository(repository)
        if problem:
            raise GithubError(f"Refused to call GitHub: {problem}")
        owner, name = repository.split("/")
        return f"{self.base_url}/repos/{quote(owner, safe='')}/{quote(name, safe='')}{path}"

    def _request_page(self, repository: str, path: str) -> tuple[Any, str | None]:
        response, answer = self._send("GET", repository, path, None, (200,))
        following = response.links.get("next", {}).get("url")
        prefix = self._url(repository, "/hooks")
        if following is not None and following.startswith(prefix + "?"):
            return answer, following[len(prefix) - len("/hooks"):]
        return answer, None          # none, or a link elsewhere: not followed

    def _request(self, method: str, repository: str, path: str, body: Any,
                 expected: tuple[int, ...]) -> Any:
        return self._send(method, repository, path, body, expected)[1]

    def _send(self, method: str, repository: str, path: str, body: Any,
              expected: tuple[int, ...]) -> tuple[httpx.Response, Any]:
        import httpx

        url = self._url(repository, path)
        what = f"{method} /repos/{repository}{path.split('?')[0]}"
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response, data = self._exchange(method, url, body)
            except httpx.TransportError as error:
                failure = GithubError(f"Cannot reach GitHub at {self.base_url} for {repository} "
                                      f"({type(error).__name__}: {self._scrub(str(error))})")
            else:
                if response.status_code in expected:
                    return response, self._json(response, data, what)
                failure = GithubError(self._refusal(response, data, what),
                                      response.status_code)
                if response.status_code not in RETRIED_STATUSES:
                    raise failure
                retry_after = _retry_after(response)
            attempt += 1
            if attempt >= self.backoff.attempts:
                raise GithubError(f"{failure.message} (after {attempt} attempts)",
                                  failure.status)
            self.backoff.sleep(self.backoff.delay(attempt - 1, retry_after))

    def _exchange(self, method: str, url: str, body: Any) -> tuple[httpx.Response, bytes]:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if content is not None else {}
        with self._http.stream(method, url, content=content, headers=headers) as response:
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_ANSWER:          # the rest is never read
                    raise GithubError(f"GitHub's answer to {method} {_path_of(url)} is larger "
                                      f"than {MAX_ANSWER} bytes; refused", response.status_code)
        return response, bytes(data)

    def _json(self, response: httpx.Response, data: bytes, what: str) -> Any:
        if response.status_code == 204 or not data:
            return None
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            if kind != "application/json" and not kind.endswith("+json"):
                raise ValueError(kind or "no Content-Type")
            return json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise GithubError(f"GitHub answered {what} with {response.status_code} but not JSON "
                              f"({self._scrub(kind or 'no Content-Type')})",
                              response.status_code) from None

    def _refusal(self, response: httpx.Response, data: bytes, what: str) -> str:
        """`GitHub refused POST /repos/octo/app/hooks: 422 Validation Failed (...)`, GitHub's
        message and its validation errors, without the token."""
        status = response.status_code
        message, details = "", []
        try:
            answer = json.loads(data) if data else {}
        except (ValueError, UnicodeDecodeError):
            answer = None
        if isinstance(answer, dict):
            if isinstance(answer.get("message"), str):
                message = answer["message"]
            for item in answer.get("errors") or []:
                if isinstance(item, dict):
                    text = item.get("message") or " ".join(
                        str(item[k]) for k in ("resource", "field", "code") if k in item)
                    details.append(str(text))
                elif isinstance(item, str):
                    details.append(item)
        elif data:
            message = f"an answer that is not JSON ({len(data)} bytes)"
        hint = {401: "the token is wrong or expired",
                403: "the token may not manage this repository's hooks (it needs admin:repo_hook "
                     "or the repository's Webhooks permission), or a rate limit was hit",
                404: "no such repository, or the token cannot see it"}.get(status)
        text = f"GitHub refused {what}: {status}"
        if message:
            text += f" {message}"
        if details:
            text += f" ({'; '.join(details[:5])})"
        if hint:
            text += f"; {hint}"
        return self._scrub(text)

    def _scrub(self, text: str) -> str:
        """`text` fit to show: the token replaced, control characters dropped, cut short."""
        text = text.replace(self._token, "***")
        text = _CONTROL.sub("", text)
        return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def _config(url: str, secret: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {"url": url, "content_type": "json", "insecure_ssl": "0"}
    if secret is not None:
        config["secret"] = secret
    return config


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _path_of(url: str) -> str:
    import httpx

    return httpx.URL(url).path


def _shown(text: str) -> str:
    text = _CONTROL.sub("?", text)
    return text if len(text) <= 60 else text[:60] + "..."

"""Talking to a container registry through the Docker Registry HTTP API v2, over httpx.

    access = access_from_block(block)            # a `provider "registry"` block, evaluated
    check_access(access)                         # GET /v2/ (+ the token flow); RegistryError if not
    check_access(access, "team/app")             # ... a token for repository:team/app:pull,push
    tag_digest(access, "team/app", "1.4.2")      # "sha256:...", or None when the tag is absent

Authentication is what the registry asks for in its `WWW-Authenticate` answer to an anonymous
request: nothing (200), `Basic` (the credentials on each request), or `Bearer realm=...,
service=..., scope=...` (Docker's token flow: GET the realm with the service and scopes, the
credentials as basic auth, and use the `token`/`access_token` it answers as a Bearer token).

Where credentials may go (the realm rule): a Bearer realm on the registry's own host name (any
port) may use the registry's scheme or https; a realm on any other host must be https and is
always reached with verified TLS, whatever `insecure` says (insecure covers the registry's own
host only). A realm over plain HTTP on another host, a realm with credentials or a fragment in
it, or an http realm for an https registry is refused before any request is sent to it: a
registry reached over plain HTTP can be impersonated, and must not be able to send the
password to a host of its choosing. Redirects are never followed (a registry that redirects
`/v2/` or its realm is reported, with the place it points to).

Bounds: connection failures, timeouts and 5xx answers are retried (`Retry`: 3 attempts, short
backoff); 4xx and certificates that do not verify never are. Each request has connect and read
timeouts, and its answer's body a deadline of its own (a trickle is cut off); answers are read
up to MAX_ANSWER bytes, challenges up to MAX_CHALLENGE characters and tokens up to MAX_TOKEN
characters. Repository names and tags are checked against the reference
grammar before they reach a URL.

A failure is a RegistryError whose text names the registry and what went wrong, and never the
password or a token: they only ever travel in Authorization headers, and any text from the
server is scrubbed of them before it is shown. RegistryAccess never shows its password, not even
in its repr.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import quote, urlencode, urlsplit

import httpx

TIMEOUT = 15.0                                  # seconds: read timeout and per-answer deadline
CONNECT_TIMEOUT = 5.0
MAX_ANSWER = 4 * 1024 * 1024                    # bytes of an answer read at most (a manifest)
MAX_CHALLENGE = 4096                            # characters of a WWW-Authenticate header
MAX_TOKEN = 32 * 1024                           # characters of a Bearer token
MAX_SHOWN = 200                                 # characters of server text shown at most
RETRIED_STATUSES = frozenset({500, 502, 503, 504})

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)

# The repository grammar of the distribution reference spec (lower case path components
# separated by '/', each [a-z0-9] runs joined by '.', '_', '__' or dashes), 255 characters at most.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*\Z")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_DIGEST = re.compile(r"(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})\Z")
_TOKEN = re.compile(r"[\x21-\x7e]+\Z")          # printable ASCII, no spaces: fits a header
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HOST = re.compile(r"[A-Za-z0-9.-]+\Z|\[[0-9A-Fa-f:.]+\]\Z")


class RegistryError(Exception):
    """A registry that cannot be used. str() is safe to show: it names the registry and never a
    secret. `reason` sorts failures: "config", "unreachable", "credentials", "denied",
    "not_registry", "malformed", "refused"; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, reason: str = "refused", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach one registry: its URL, optional credentials, and whether plain HTTP or
    unverified TLS is allowed. The password is kept in clear and never shown."""

    url: str                                    # "http://127.0.0.1:5000", "https://reg.example.com"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    insecure: bool = False

    def __repr__(self) -> str:                  # never the password, even by accident
        secret = ", password=***" if self.password else ""
        return (f"RegistryAccess(url={self.url!r}, username={self.username!r}{secret}, "
                f"insecure={self.insecure!r})")

    @property
    def host(self) -> str:
        """HOST[:PORT] as image references start with it ("127.0.0.1:5000")."""
        return _split_url(self.url, self.insecure)[1].netloc.lower()


@dataclass(frozen=True)
class Retry:
    """How failed requests are retried: `attempts` in all, about `base` * 2^n seconds between."""

    attempts: int = 3
    base: float = 0.25
    cap: float = 2.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        wanted = min(self.cap, self.base * 2 ** attempt)
        return random.uniform(wanted / 2, wanted)


# -- the provider block ------------------------------------------------------------------------

BLOCK_ATTRIBUTES = ("url", "username", "password", "insecure")


def block_problems(block: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """What is wrong with a `provider "registry"` block: (attribute, summary, detail) each."""
    found: list[tuple[str, str, str]] = []
    for name in sorted(set(block) - set(BLOCK_ATTRIBUTES)):
        found.append((name, f"Unsupported argument `{name}`", "The registry provider takes "
                      "`url`, `username`, `password` and `insecure`."))
    insecure = block.get("insecure", False)
    if not isinstance(insecure, bool):
        found.append(("insecure", "Invalid `insecure`", "`insecure` must be true or false."))
        insecure = False
    url = block.get("url")
    if url is None:
        found.append(("url", "Missing `url`", "The registry's address, such as "
                      "\"https://registry.example.com\" or \"http://127.0.0.1:5000\"."))
    else:
        problem = url_problem(url, insecure)
        if problem:
            found.append(("url", "Invalid `url`", problem))
    username, password = block.get("username"), block.get("password")
    for name, value in (("username", username), ("password", password)):
        if value is None:
            continue
        if _is_unknown(value):
            found.append((name, f"Invalid `{name}`", f"`{name}` must be known before apply."))
        elif not isinstance(value, str) or not value or any(c in value for c in "\r\n\0"):
            found.append((name, f"Invalid `{name}`",
                          f"`{name}` must be a non-empty string on one line."))
    if isinstance(username, str) and ":" in username:
        found.append(("username", "Invalid `username`",
                      "`username` cannot hold ':' (basic auth splits on it)."))
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        found.append((missing, f"Missing `{missing}`", "`username` and `password` go together: "
                      "give both, or neither for a registry open to anyone."))
    return found


def url_problem(url: Any, insecure: bool = False) -> str | None:
    """Why `url` is not a registry address, or None."""
    if not isinstance(url, str) or not url:
        return "`url` must be a URL such as \"https://registry.example.com\"."
    if _is_unknown(url):
        return "`url` must be known before apply."
    try:
        scheme, split = _split_url(url, insecure)
    except ValueError:
        split = None
    if split is None or scheme not in ("http", "https") or not split.hostname \
            or not _HOST.match(split.netloc.rsplit(":", 1)[0] if split.port else split.netloc) \
            or split.path not in ("", "/") or split.query or split.fragment \
            or split.username or split.password or "@" in split.netloc:
        return (f"{_shown(url)!r} is not a registry address: give a scheme and a host, maybe a "
                "port, with no path and no credentials, such as \"https://registry.example.com\" "
                "or \"http://127.0.0.1:5000\".")
    if scheme == "http" and not insecure:
        return (f"{_shown(url)!r} is plain HTTP, which sends the password in clear: set "
                "`insecure = true` to allow it (a local registry), or use https.")
    return None


def access_from_block(block: Mapping[str, Any]) -> RegistryAccess:
    """The RegistryAccess of an evaluated `provider "registry"` block (password in clear);
    RegistryError (reason "config") naming the first problem when the block is not usable."""
    problems = block_problems(block)
    if problems:
        _, summary, detail = problems[0]
        raise RegistryError(f"provider \"registry\": {summary}: {detail}", "config")
    insecure = bool(block.get("insecure", False))
    scheme, split = _split_url(block["url"], insecure)
    return RegistryAccess(f"{scheme}://{split.netloc}", block.get("username"),
                          block.get("password"), insecure)


# -- the checks --------------------------------------------------------------------------------

def check_access(access: RegistryAccess, repository: str | None = None, *,
                 timeout: float = TIMEOUT, retry: Retry | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
    """The registry answers the v2 API and takes the credentials: GET /v2/ and, when the
    registry asks for a Bearer token, the token flow (for `repository`: scope
    repository:REPO:pull,push). Raises RegistryError: unreachable, credentials refused, not a
    registry v2, malformed answers."""
    if repository is not None:
        _check_repository(repository)
    with _Session(access, timeout, retry, transport) as session:
        scopes = (f"repository:{repository}:pull,push",) if repository else ()
        session.ping(scopes)


def tag_digest(access: RegistryAccess, repository: str, tag: str, *,
               timeout: float = TIMEOUT, retry: Retry | None = None,
               transport: httpx.BaseTransport | None = None) -> str | None:
    """The digest ("sha256:...") of REPOSITORY:TAG, None when the registry has no such tag (or
    no such repository). HEAD on the manifest with the usual Accept types; GET when the answer
    carries no Docker-Content-Digest (the digest of the manifest's bytes)."""
    _check_repository(repository)
    if not isinstance(tag, str) or not _TAG.match(tag):
        raise RegistryError(f"{_shown(str(tag))!r} is not a valid tag (letters, digits, '_', "
                            "'.' and '-', not starting with '.' or '-', at most 128)", "config")
    with _Session(access, timeout, retry, transport) as session:
        return session.digest(repository, tag)


# -- HTTP --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Challenge:
    """A parsed WWW-Authenticate challenge: its scheme (lower case) and parameters."""

    scheme: str
    params: Mapping[str, str]


class _Session:
    """One conversation with a registry (one check): its HTTP clients and the secrets that must
    never be shown (the password, and each token handed out)."""

    def __init__(self, access: RegistryAccess, timeout: float, retry: Retry | None,
                 transport: httpx.BaseTransport | None):
        problem = url_problem(access.url, access.insecure)
        if problem:
            raise RegistryError(f"Cannot use registry {_shown(access.url)}: {problem}", "config")
        self.access = access
        scheme, split = _split_url(access.url, access.insecure)
        self.base = f"{scheme}://{split.netloc}"
        self.hostname = (split.hostname or "").lower()
        self.name = self.base                   # how messages name the registry
        self.timeout = timeout
        self.retry = retry or Retry()
        limits = httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT))
        headers = {"User-Agent": "flowplan", "Docker-Distribution-API-Version": "registry/2.0"}
        self._http = httpx.Client(timeout=limits, follow_redirects=False, transport=transport,
                                  verify=not access.insecure, headers=headers)
        self._transport = transport
        self._strict: httpx.Client | None = None   # verified TLS, for realms on other hosts
        self._secrets = [s for s in (access.password,) if s]

    def __enter__(self) -> "_Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._http.close()
        if self._strict is not None:
            self._strict.close()

    # -- what the checks do ---------------------------------------------------------------------

    def ping(self, scopes: tuple[str, ...]) -> None:
        response, data = self._send("GET", f"{self.base}/v2/", {})
        if response.status_code == 200:
            self._require_registry(response, data)
            return                              # open to anyone: no credentials to check
        if response.status_code != 401:
            raise self._unexpected(response, data, "GET /v2/")
        authorization = self._authorize(response, scopes, "GET /v2/")
        answer, body = self._send("GET", f"{self.base}/v2/", authorization)
        if answer.status_code == 401:
            raise self._credentials_refused(answer, body)
        if answer.status_code != 200:
            raise self._unexpected(answer, body, "GET /v2/")
        self._require_registry(answer, body)

    def digest(self, repository: str, tag: str) -> str | None:
        path = f"/v2/{repository}/manifests/{quote(tag, safe='')}"
        url = f"{self.base}{path}"
        accept = {"Accept": ", ".join(MANIFEST_TYPES)}
        authorization: dict[str, str] = {}
        response, data = self._send("HEAD", url, accept)
        if response.status_code == 401:
            authorization = self._authorize(response, (f"repository:{repository}:pull",),
                                            f"HEAD {path}")
            response, data = self._send("HEAD", url, {**accept, **authorization})
            if response.status_code == 401:
                raise self._credentials_refused(response, data)
        if response.status_code == 404:
            return None
        if response.status_code == 403:
            raise RegistryError(f"Registry {self.name} denied reading {repository}:{tag} (403): "
                                f"the credentials may not pull from {repository}", "denied", 403)
        if response.status_code != 200:
            raise self._unexpected(response, data, f"HEAD {path}")
        digest = response.headers.get("Docker-Content-Digest", "").strip()
        if digest:
            if not _DIGEST.match(digest):
                raise RegistryError(f"Registry {self.name} answered HEAD {path} with a "
                                    f"Docker-Content-Digest that is not a digest "
                                    f"({self._scrub(digest)!r})", "malformed", 200)
            return digest
        response, data = self._send("GET", url, {**accept, **authorization})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._unexpected(response, data, f"GET {path}")
        try:
            json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise RegistryError(f"Registry {self.name} answered GET {path} with a manifest that "
                                "is not JSON", "malformed", 200) from None
        return "sha256:" + hashlib.sha256(data).hexdigest()

    # -- authentication -------------------------------------------------------------------------

    def _authorize(self, response: httpx.Response, scopes: tuple[str, ...],
                   what: str) -> dict[str, str]:
        """The Authorization header the registry's 401 answer asks for."""
        challenges = parse_challenges(response.headers.get_list("WWW-Authenticate"))
        if challenges is None:
            raise RegistryError(f"Registry {self.name} answered {what} with 401 and a "
                                "WWW-Authenticate header that cannot be read (malformed or "
                                "oversized)", "malformed", 401)
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is None and basic is None:
            schemes = ", ".join(sorted({c.scheme for c in challenges})) or "none"
            raise RegistryError(f"Registry {self.name} answered {what} with 401 but asks for no "
                                f"authentication flowplan speaks (Basic or Bearer; it asked for "
                                f"{self._scrub(schemes)})", "not_registry", 401)
        if bearer is not None:
            return {"Authorization": f"Bearer {self._token(bearer, scopes)}"}
        if not self.access.username:
            raise RegistryError(f"Registry {self.name} needs credentials (it answered 401): set "
                                "`username` and `password`", "credentials", 401)
        return {"Authorization": self._basic()}

    def _token(self, challenge: Challenge, scopes: tuple[str, ...]) -> str:
        realm = challenge.params.get("realm", "")
        client = self._realm_client(realm)
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        for scope in scopes or ((challenge.params["scope"],) if challenge.params.get("scope")
                                else ()):
            query.append(("scope", scope))
        if self.access.username:
            query.append(("account", self.access.username))
        headers = {"Authorization": self._basic()} if self.access.username else {}
        separator = "&" if urlsplit(realm).query else "?"
        url = realm + (separator + urlencode(query) if query else "")
        where = f"the token service {self._scrub(_without_query(realm))}"
        response, data = self._send("GET", url, headers, client=client, where=where)
        if response.status_code in (401, 403):
            if not self.access.username:
                raise RegistryError(f"Registry {self.name} needs credentials ({where} answered "
                                    f"{response.status_code}): set `username` and `password`",
                                    "credentials", response.status_code)
            raise RegistryError(f"Registry {self.name} refused the credentials of "
                                f"{self.access.username!r}: {where} answered "
                                f"{response.status_code}", "credentials", response.status_code)
        if response.status_code != 200:
            raise self._unexpected(response, data, f"GET {_without_query(realm)}", where=where)
        try:
            answer = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            answer = None
        token = None
        if isinstance(answer, dict):
            token = answer.get("token") or answer.get("access_token")
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN \
                or not _TOKEN.match(token):
            raise RegistryError(f"Registry {self.name}: {where} answered 200 without a usable "
                                "token (the answer must be JSON with a `token` or "
                                f"`access_token` of at most {MAX_TOKEN} printable characters)",
                                "malformed", 200)
        self._secrets.append(token)
        return token

    def _realm_client(self, realm: str) -> httpx.Client:
        """The client to ask `realm` for a token with, after the realm rule (module docstring)."""
        try:
            split = urlsplit(realm)
            split.port                          # raises ValueError for a port that is no port
        except ValueError:
            split = None
        if split is None or split.scheme not in ("http", "https") or not split.hostname \
                or split.username or split.password or "@" in split.netloc or split.fragment \
                or len(realm) > 2048:
            raise RegistryError(f"Registry {self.name} asks for a token from a realm that is not "
                                f"an http(s) URL ({self._scrub(realm)!r}); refused",
                                "malformed", 401)
        shown = self._scrub(_without_query(realm))
        if split.hostname.lower() == self.hostname:
            if split.scheme == "http" and urlsplit(self.base).scheme == "https":
                raise RegistryError(f"Registry {self.name} asks for a token over plain HTTP "
                                    f"({shown}) although it is itself https; refused: the "
                                    "credentials would travel in clear", "refused", 401)
            return self._http
        if split.scheme != "https":
            raise RegistryError(f"Registry {self.name} asks for a token from {shown}, plain "
                                "HTTP on another host; refused: credentials go to another host "
                                "only over https", "refused", 401)
        if not self.access.insecure:
            return self._http                   # already verifying TLS
        if self._strict is None:
            limits = httpx.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT))
            self._strict = httpx.Client(timeout=limits, follow_redirects=False, verify=True,
                                        transport=self._transport,
                                        headers={"User-Agent": "flowplan"})
        return self._strict

    def _basic(self) -> str:
        pair = f"{self.access.username}:{self.access.password or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    # -- one request ----------------------------------------------------------------------------

    def _send(self, method: str, url: str, headers: Mapping[str, str], *,
              client: httpx.Client | None = None,
              where: str | None = None) -> tuple[httpx.Response, bytes]:
        """One request, retried on connection failures, timeouts and 5xx; the answer read up to
        MAX_ANSWER bytes within the deadline. 3xx answers are refused, never followed."""
        client = client or self._http
        where = where or f"registry {self.name}"
        attempt = 0
        while True:
            try:
                response, data = self._exchange(client, method, url, headers, where)
            except httpx.TransportError as error:
                failure = RegistryError(f"Cannot reach {where}: {_transport_reason(error)}",
                                        "unreachable")
                if _untrusted_certificate(error):
                    raise failure from None         # the same certificate next time
            else:
                if 300 <= response.status_code < 400:
                    target = response.headers.get("Location", "")
                    target = self._scrub(_without_query(target)) or "nowhere"
                    raise RegistryError(
                        f"{_capital(where)} answered {method} {urlsplit(url).path} with a "
                        f"redirect ({response.status_code}) to {target}; redirects are not "
                        "followed: give the registry's own address", "refused",
                        response.status_code)
                if response.status_code not in RETRIED_STATUSES:
                    return response, data
                failure = RegistryError(f"{_capital(where)} answered {method} "
                                        f"{urlsplit(url).path} with {response.status_code}",
                                        "unreachable", response.status_code)
            attempt += 1
            if attempt >= self.retry.attempts:
                raise RegistryError(f"{failure.message} (after {attempt} attempts)",
                                    failure.reason, failure.status)
            self.retry.sleep(self.retry.delay(attempt - 1))

    def _exchange(self, client: httpx.Client, method: str, url: str,
                  headers: Mapping[str, str], where: str) -> tuple[httpx.Response, bytes]:
        deadline = time.monotonic() + self.timeout
        with client.stream(method, url, headers=dict(headers)) as response:
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_ANSWER:
                    raise RegistryError(f"{_capital(where)}'s answer to {method} "
                                        f"{urlsplit(url).path} is larger than {MAX_ANSWER} bytes; "
                                        "refused", "malformed", response.status_code)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the answer took longer than the timeout")
        return response, bytes(data)

    # -- what failures say ----------------------------------------------------------------------

    def _require_registry(self, response: httpx.Response, data: bytes) -> None:
        version = response.headers.get("Docker-Distribution-API-Version", "")
        if version.lower().startswith("registry/2"):
            return
        try:
            answer = json.loads(data) if data else None
        except (ValueError, UnicodeDecodeError):
            answer = None
        if isinstance(answer, dict):
            return
        raise RegistryError(f"{self.name} is not a Docker registry v2: GET /v2/ answered 200 "
                            "without the Docker-Distribution-API-Version header or a JSON "
                            "object", "not_registry", 200)

    def _credentials_refused(self, response: httpx.Response, data: bytes) -> RegistryError:
        who = f"of {self.access.username!r}" if self.access.username else "(none given)"
        detail = self._registry_message(data)
        return RegistryError(f"Registry {self.name} refused the credentials {who} (401"
                             f"{': ' + detail if detail else ''})", "credentials", 401)

    def _unexpected(self, response: httpx.Response, data: bytes, what: str, *,
                    where: str | None = None) -> RegistryError:
        status = response.status_code
        where = where or f"registry {self.name}"
        detail = self._registry_message(data)
        if status == 404 and what.endswith("/v2/"):
            return RegistryError(f"{self.name} is not a Docker registry v2: GET /v2/ answered "
                                 "404", "not_registry", 404)
        if status == 403:
            return RegistryError(f"{_capital(where)} denied {what} (403"
                                 f"{': ' + detail if detail else ''})", "denied", 403)
        return RegistryError(f"{_capital(where)} answered {what} with {status}"
                             f"{': ' + detail if detail else ''}", "refused", status)

    def _registry_message(self, data: bytes) -> str:
        """The registry's own message ({"errors": [{"code", "message"}]}), scrubbed; ''."""
        try:
            answer = json.loads(data) if data else None
        except (ValueError, UnicodeDecodeError):
            return ""
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
            return ""
        first = errors[0]
        text = " ".join(str(first[k]) for k in ("code", "message")
                        if isinstance(first.get(k), (str, int)))
        return self._scrub(text)

    def _scrub(self, text: str) -> str:
        """`text` fit to show: secrets replaced, control characters dropped, cut short."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _shown(text)


def parse_challenges(headers: list[str]) -> list[Challenge] | None:
    """The challenges of WWW-Authenticate headers (RFC 7235: `Scheme k=v, k="v", Scheme2 ...`),
    or None when they cannot be read or are larger than MAX_CHALLENGE characters in all."""
    text = ", ".join(headers)
    if len(text) > MAX_CHALLENGE or _CONTROL.search(text):
        return None
    challenges: list[Challenge] = []
    position, end = 0, len(text)
    token = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
    while position < end:
        while position < end and text[position] in " ,":
            position += 1
        if position >= end:
            break
        match = token.match(text, position)
        if not match:
            return None
        scheme, position = match.group().lower(), match.end()
        params: dict[str, str] = {}
        while True:
            mark = position
            while position < end and text[position] in " ,":
                position += 1
            key = token.match(text, position)
            if not key:
                break
            after = key.end()
            while after < end and text[after] == " ":
                after += 1
            if after >= end or text[after] != "=":
                position = mark                 # the next challenge's scheme
                break
            after += 1
            while after < end and text[after] == " ":
                after += 1
            if after < end and text[after] == '"':
                value, after = _quoted(text, after)
                if value is None:
                    return None
            else:
                bare = token.match(text, after)
                if not bare:
                    return None
                value, after = bare.group(), bare.end()
            name = key.group().lower()
            if name in params:
                return None                     # a parameter given twice: ambiguous
            params[name] = value
            position = after
        challenges.append(Challenge(scheme, params))
    return challenges


def _quoted(text: str, position: int) -> tuple[str | None, int]:
    """The quoted string starting at `position` (at its '"') and the position after it."""
    value, position = [], position + 1
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text):
            value.append(text[position + 1])
            position += 2
        elif char == '"':
            return "".join(value), position + 1
        else:
            value.append(char)
            position += 1
    return None, position


def _check_repository(repository: Any) -> None:
    if not isinstance(repository, str) or len(repository) > 255 \
            or not _REPOSITORY.match(repository):
        raise RegistryError(f"{_shown(str(repository))!r} is not a valid repository name (lower "
                            "case letters, digits and separators '.', '_', '-', path components "
                            "joined by '/', at most 255 characters)", "config")


def _split_url(url: str, insecure: bool) -> tuple[str, Any]:
    """(scheme, urlsplit result) of a registry URL; a URL without a scheme is https, or http
    when `insecure`."""
    if "://" not in url:
        url = ("http://" if insecure else "https://") + url
    split = urlsplit(url)
    split.port                                  # raises ValueError for a port that is no port
    return split.scheme.lower(), split


def _untrusted_certificate(error: httpx.TransportError) -> bool:
    return isinstance(error, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(error)


def _transport_reason(error: httpx.TransportError) -> str:
    if _untrusted_certificate(error):
        return (f"its TLS certificate does not verify ({_shown(str(error))}); give the registry "
                "a certificate this machine trusts, or set `insecure = true` for a registry you "
                "trust on a network you trust")
    if isinstance(error, httpx.TimeoutException):
        return f"no answer in time ({type(error).__name__})"
    if isinstance(error, httpx.ConnectError):
        return f"connection failed ({_shown(str(error)) or 'refused'})"
    return f"{type(error).__name__}: {_shown(str(error))}"


def _without_query(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0]


def _is_unknown(value: Any) -> bool:
    return isinstance(value, dict) and "$unknown" in value


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _shown(text: str) -> str:
    text = _CONTROL.sub("", text)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."

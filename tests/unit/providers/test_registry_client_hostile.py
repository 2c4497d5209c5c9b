"""The registry client against registries that misbehave: challenges that point the credentials
elsewhere or cannot be read, token answers that are not tokens, redirects, 5xx, answers that
never come, and echoes of the password. httpx.MockTransport plays the registry (and records what
was sent where), except for the hanging and trickling servers, which are real sockets."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time

import httpx
import pytest

from flowplan_providers.registry.client import (MAX_ANSWER, MAX_TOKEN, RegistryAccess,
                                                RegistryError, Retry, access_from_block,
                                                check_access, parse_challenges, tag_digest)

PASSWORD = "pa55-w0rd-SECRET"
HTTP = RegistryAccess("http://registry.test:5000", "ci", PASSWORD, insecure=True)
HTTPS = RegistryAccess("https://registry.test", "ci", PASSWORD)
NO_WAIT = Retry(attempts=3, sleep=lambda seconds: None)
V2 = {"Docker-Distribution-API-Version": "registry/2.0"}
BASIC = "Basic " + base64.b64encode(f"ci:{PASSWORD}".encode()).decode()


class FakeRegistry:
    """A registry as a function of the request; every request is recorded."""

    def __init__(self, answer):
        self.answer = answer
        self.sent: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return self.answer(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def hosts_given_credentials(self) -> set[str]:
        return {r.url.host for r in self.sent if "authorization" in r.headers}


def bearer_registry(realm: str, token_answer=None):
    """A registry asking for Bearer tokens from `realm`; the realm answers `token_answer`."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            if request.headers.get("authorization") == "Bearer good-token":
                return httpx.Response(200, headers=V2, json={})
            return httpx.Response(401, headers={**V2, "WWW-Authenticate":
                                                f'Bearer realm="{realm}",service="reg"'})
        if token_answer is not None:
            return token_answer(request)
        return httpx.Response(200, json={"token": "good-token"})

    return FakeRegistry(answer)


def check(access: RegistryAccess, fake: FakeRegistry, **options) -> None:
    check_access(access, transport=fake.transport(), retry=options.pop("retry", NO_WAIT),
                 **options)


def failure(access: RegistryAccess, fake: FakeRegistry, **options) -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        check(access, fake, **options)
    error = caught.value
    assert PASSWORD not in str(error) and "good-token" not in str(error)
    return error


# -- where credentials may go -------------------------------------------------------------------

def test_token_flow_sends_credentials_to_a_realm_on_the_registrys_own_host():
    fake = bearer_registry("http://registry.test:5001/token")
    check(HTTP, fake, repository=None)
    realm = [r for r in fake.sent if r.url.port == 5001]
    assert len(realm) == 1 and realm[0].headers["authorization"] == BASIC
    assert realm[0].url.params["service"] == "reg" and realm[0].url.params["account"] == "ci"


def test_token_flow_asks_for_pull_and_push_on_the_repository_checked():
    fake = bearer_registry("https://registry.test/token")
    check_access(HTTPS, "team/app", transport=fake.transport(), retry=NO_WAIT)
    realm = [r for r in fake.sent if r.url.path == "/token"]
    assert realm[0].url.params.get_list("scope") == ["repository:team/app:pull,push"]


def test_plain_http_realm_on_another_host_never_gets_the_credentials():
    fake = bearer_registry("http://evil.test/token")
    error = failure(HTTP, fake)
    assert error.reason == "refused"
    assert "plain HTTP on another host" in str(error) and "evil.test" in str(error)
    assert "evil.test" not in {r.url.host for r in fake.sent}


def test_https_realm_on_another_host_is_trusted_like_docker_hubs_auth_service():
    fake = bearer_registry("https://auth.example.test/token")
    check(HTTPS, fake)
    assert fake.hosts_given_credentials() == {"auth.example.test", "registry.test"}


def test_a_realm_on_another_host_is_reached_with_verified_tls_even_for_an_insecure_registry(
        monkeypatch):
    made = []

    class RecordingClient(httpx.Client):
        def __init__(self, **options):
            made.append(options.get("verify"))
            super().__init__(**options)

    monkeypatch.setattr("flowplan_providers.registry.client.httpx.Client", RecordingClient)
    insecure_https = RegistryAccess("https://registry.test", "ci", PASSWORD, insecure=True)
    fake = bearer_registry("https://auth.example.test/token")
    check(insecure_https, fake)
    assert made == [False, True]                     # the registry's, then the realm's
    assert fake.hosts_given_credentials() == {"auth.example.test", "registry.test"}


@pytest.mark.parametrize("realm", ["http://registry.test.evil.test/token",
                                   "http://evil.test/registry.test/token",
                                   "http://registry.test@evil.test/token"])
def test_the_realm_host_must_be_exactly_the_registrys(realm):
    fake = bearer_registry(realm)
    failure(HTTP, fake)
    assert {r.url.host for r in fake.sent} == {"registry.test"}


def test_https_registry_refuses_a_plain_http_realm_on_its_own_host():
    error = failure(HTTPS, bearer_registry("http://registry.test/token"))
    assert "plain HTTP" in str(error) and error.reason == "refused"


@pytest.mark.parametrize("realm", [
    "file:///etc/passwd", "ftp://registry.test/token", "https://user:pw@auth.test/token",
    "https://auth.test/token#frag", "/token", "", "https://" + "a" * 3000 + ".test/token",
    "http://registry.test:99999/token",
])
def test_realms_that_are_not_http_urls_are_refused_before_any_request(realm):
    fake = bearer_registry(realm.replace('"', ""))
    error = failure(HTTP, fake)
    assert error.reason in ("malformed", "refused")
    assert len(fake.sent) == 1                          # only the anonymous GET /v2/


# -- challenges that cannot be read --------------------------------------------------------------

@pytest.mark.parametrize("header", [
    'Bearer realm="http://registry.test/token',                 # unterminated quote
    'Bearer realm="http://registry.test/token", realm="http://evil.test/t"',   # given twice
    "Bearer realm=",                                            # no value
    'Bearer realm="http://registry.test/token"\x00',            # control character
    'Bearer realm="http://registry.test/token",service="' + "s" * 5000 + '"',  # oversized
    "@@@",
])
def test_malformed_or_oversized_challenges_are_refused(header):
    fake = FakeRegistry(lambda request: httpx.Response(
        401, headers=[("WWW-Authenticate", header.encode("latin-1").decode("latin-1"))]))
    error = failure(HTTP, fake)
    assert error.reason == "malformed" and "cannot be read" in str(error)


def test_a_challenge_in_no_scheme_flowplan_speaks_says_which_it_was():
    fake = FakeRegistry(lambda request: httpx.Response(
        401, headers={"WWW-Authenticate": 'Negotiate abc, NTLM'}))
    error = failure(HTTP, fake)
    assert error.reason == "not_registry" and "negotiate, ntlm" in str(error)


def test_a_401_without_any_challenge_is_not_a_registry():
    error = failure(HTTP, FakeRegistry(lambda request: httpx.Response(401)))
    assert error.reason == "not_registry"


def test_challenge_parser_reads_quoted_escapes_and_several_challenges():
    parsed = parse_challenges(['Basic realm="a\\"b", Bearer realm="https://x/t",service=reg,'
                               'scope="repository:a/b:pull,push"'])
    assert [(c.scheme, dict(c.params)) for c in parsed] == [
        ("basic", {"realm": 'a"b'}),
        ("bearer", {"realm": "https://x/t", "service": "reg",
                    "scope": "repository:a/b:pull,push"})]


# -- token answers that are not tokens -----------------------------------------------------------

@pytest.mark.parametrize("answer", [
    httpx.Response(200, text="<html>login</html>"),
    httpx.Response(200, json={"tok": "x"}),
    httpx.Response(200, json=["good-token"]),
    httpx.Response(200, json={"token": "two words"}),
    httpx.Response(200, json={"token": "line\r\nX-Injected: 1"}),
    httpx.Response(200, json={"token": "t" * (MAX_TOKEN + 1)}),
    httpx.Response(200, json={"token": 12345}),
])
def test_token_answers_without_a_usable_token_are_refused(answer):
    error = failure(HTTP, bearer_registry("http://registry.test/token", lambda r: answer))
    assert error.reason == "malformed" and "without a usable token" in str(error)


def test_an_oversized_token_answer_is_not_read_to_its_end():
    huge = b'{"token": "' + b"a" * (MAX_ANSWER + 10) + b'"}'
    error = failure(HTTP, bearer_registry("http://registry.test/token",
                                          lambda r: httpx.Response(200, content=huge)))
    assert error.reason == "malformed" and "larger than" in str(error)


def test_a_token_the_registry_then_refuses_means_the_credentials_were_refused():
    fake = bearer_registry("http://registry.test/token",
                           lambda r: httpx.Response(200, json={"access_token": "stale"}))
    error = failure(HTTP, fake)
    assert error.reason == "credentials" and "'ci'" in str(error)


def test_token_service_refusing_the_credentials_is_a_credentials_error():
    fake = bearer_registry("http://registry.test/token",
                           lambda r: httpx.Response(401, json={"details": "no"}))
    error = failure(HTTP, fake)
    assert error.reason == "credentials" and "refused the credentials" in str(error)


# -- what the registry itself answers ------------------------------------------------------------

def test_an_html_page_at_v2_is_not_a_registry():
    error = failure(HTTP, FakeRegistry(lambda r: httpx.Response(200, text="<html>hi</html>")))
    assert error.reason == "not_registry" and "not a Docker registry v2" in str(error)


def test_a_404_at_v2_is_not_a_registry():
    error = failure(HTTP, FakeRegistry(lambda r: httpx.Response(404, text="Not Found")))
    assert error.reason == "not_registry" and "404" in str(error)


def test_redirects_are_reported_and_never_followed():
    fake = FakeRegistry(lambda r: httpx.Response(
        302, headers={"Location": "http://elsewhere.test/v2/?key=secret"}))
    error = failure(HTTP, fake)
    assert "redirect (302) to http://elsewhere.test/v2/" in str(error)
    assert "key=secret" not in str(error)
    assert [r.url.host for r in fake.sent] == ["registry.test"]


def test_a_realm_that_redirects_is_not_followed():
    fake = bearer_registry("http://registry.test/token", lambda r: httpx.Response(
        307, headers={"Location": "http://evil.test/steal"}))
    error = failure(HTTP, fake)
    assert "redirect (307)" in str(error)
    assert "evil.test" not in {r.url.host for r in fake.sent}


def test_5xx_answers_are_retried_a_bounded_number_of_times():
    fake = FakeRegistry(lambda r: httpx.Response(503))
    error = failure(HTTP, fake, retry=Retry(attempts=3, sleep=lambda s: None))
    assert len(fake.sent) == 3 and "after 3 attempts" in str(error)
    assert error.reason == "unreachable"


def test_a_passing_5xx_is_retried_until_the_registry_answers():
    answers = iter([httpx.Response(502), httpx.Response(200, headers=V2, json={})])
    fake = FakeRegistry(lambda r: next(answers))
    check(HTTP, fake)
    assert len(fake.sent) == 2


def test_wrong_credentials_are_not_retried():
    fake = FakeRegistry(lambda r: httpx.Response(
        401, headers={"WWW-Authenticate": 'Basic realm="r"'},
        json={"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}))
    error = failure(HTTP, fake)
    assert error.reason == "credentials" and len(fake.sent) == 2    # anonymous, then basic


def test_an_open_registry_needs_no_credentials():
    fake = FakeRegistry(lambda r: httpx.Response(200, headers=V2, json={}))
    check(RegistryAccess("https://registry.test"), fake)
    assert fake.hosts_given_credentials() == set()


# -- the password is never shown -----------------------------------------------------------------

def test_a_registry_echoing_the_password_never_gets_it_into_the_error():
    fake = FakeRegistry(lambda r: httpx.Response(401, headers={
        "WWW-Authenticate": 'Basic realm="r"'}, json={"errors": [
            {"code": "UNAUTHORIZED", "message": f"bad password {PASSWORD} for ci"}]}))
    error = failure(HTTP, fake)
    assert "bad password *** for ci" in str(error)


def test_a_token_echoed_back_is_scrubbed_too():
    def answer(request):
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": "echoed-token"})
        if request.headers.get("authorization") == "Bearer echoed-token":
            return httpx.Response(403, json={"errors": [
                {"code": "DENIED", "message": "token echoed-token denied"}]})
        return httpx.Response(401, headers={
            "WWW-Authenticate": 'Bearer realm="http://registry.test:5000/token"'})

    error = failure(HTTP, FakeRegistry(answer))
    assert "echoed-token" not in str(error) and "token *** denied" in str(error)


def test_repr_and_errors_never_show_the_password():
    assert PASSWORD not in repr(HTTP) and "password=***" in repr(HTTP)
    assert PASSWORD not in str(HTTP)
    with pytest.raises(RegistryError) as caught:
        access_from_block({"url": "http://x.test", "username": "ci", "password": PASSWORD})
    assert PASSWORD not in str(caught.value)


# -- tag_digest ----------------------------------------------------------------------------------

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("repository", ["../etc", "Team/app", "team//app", "team/app/",
                                        "a" * 256, "team/app?x=1", "team/%2e%2e", ""])
def test_repository_names_outside_the_reference_grammar_are_refused_before_any_request(
        repository):
    fake = FakeRegistry(lambda r: httpx.Response(200))
    with pytest.raises(RegistryError) as caught:
        tag_digest(HTTP, repository, "1", transport=fake.transport())
    assert caught.value.reason == "config" and fake.sent == []


@pytest.mark.parametrize("tag", ["-x", ".x", "a b", "a/b", "t" * 129, "", "a:b", "ä"])
def test_tags_outside_the_reference_grammar_are_refused_before_any_request(tag):
    fake = FakeRegistry(lambda r: httpx.Response(200))
    with pytest.raises(RegistryError) as caught:
        tag_digest(HTTP, "team/app", tag, transport=fake.transport())
    assert caught.value.reason == "config" and fake.sent == []


def test_tag_digest_reads_the_docker_content_digest_of_a_head():
    fake = FakeRegistry(lambda r: httpx.Response(200, headers={"Docker-Content-Digest": DIGEST}))
    assert tag_digest(HTTP, "team/app", "1.0", transport=fake.transport()) == DIGEST
    (head,) = fake.sent
    assert head.method == "HEAD" and head.url.path == "/v2/team/app/manifests/1.0"
    assert "application/vnd.oci.image.manifest.v1+json" in head.headers["accept"]


def test_tag_digest_hashes_the_manifest_when_the_head_has_no_digest():
    manifest = json.dumps({"schemaVersion": 2}).encode()
    fake = FakeRegistry(lambda r: httpx.Response(200, content=b"" if r.method == "HEAD"
                                                 else manifest))
    expected = "sha256:" + hashlib.sha256(manifest).hexdigest()
    assert tag_digest(HTTP, "team/app", "1", transport=fake.transport()) == expected


def test_tag_digest_is_none_for_an_absent_tag():
    fake = FakeRegistry(lambda r: httpx.Response(404))
    assert tag_digest(HTTP, "team/app", "1", transport=fake.transport()) is None


@pytest.mark.parametrize("digest", ["sha256:xyz", "md5:" + "a" * 32, "sha256:" + "A" * 64,
                                    DIGEST + "x", "sha256:" + "a" * 63])
def test_a_digest_header_that_is_not_a_digest_is_refused(digest):
    fake = FakeRegistry(lambda r: httpx.Response(200, headers={"Docker-Content-Digest": digest}))
    with pytest.raises(RegistryError) as caught:
        tag_digest(HTTP, "team/app", "1", transport=fake.transport())
    assert caught.value.reason == "malformed"


def test_tag_digest_of_a_non_json_manifest_is_refused():
    fake = FakeRegistry(lambda r: httpx.Response(200, text="" if r.method == "HEAD" else "<x>"))
    with pytest.raises(RegistryError) as caught:
        tag_digest(HTTP, "team/app", "1", transport=fake.transport())
    assert "not JSON" in str(caught.value)


def test_tag_digest_takes_a_pull_token_for_the_repository():
    def answer(request):
        if request.url.path == "/token":
            assert request.url.params["scope"] == "repository:team/app:pull"
            return httpx.Response(200, json={"token": "pull-token"})
        if request.headers.get("authorization") == "Bearer pull-token":
            return httpx.Response(200, headers={"Docker-Content-Digest": DIGEST})
        return httpx.Response(401, headers={"WWW-Authenticate":
                                            'Bearer realm="http://registry.test:5000/token"'})

    fake = FakeRegistry(answer)
    assert tag_digest(HTTP, "team/app", "1", transport=fake.transport()) == DIGEST


# -- registries that never answer ----------------------------------------------------------------

class SilentServer:
    """A TCP server on 127.0.0.1 that accepts and then says nothing (or trickles a byte every
    `trickle` seconds after the headers of an endless answer)."""

    def __init__(self, trickle: float | None = None):
        self.trickle = trickle
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(connection)
            if self.trickle is not None:
                threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        try:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: "
                               b"registry/2.0\r\nContent-Length: 100000\r\n\r\n")
            while not self.stopped.wait(self.trickle):
                connection.sendall(b" ")
        except OSError:
            pass

    def stop(self) -> None:
        self.stopped.set()
        for connection in self.connections:
            connection.close()
        self.sock.close()


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.stop()


@pytest.fixture
def trickling():
    server = SilentServer(trickle=0.05)
    yield server
    server.stop()


def test_a_registry_that_hangs_times_out_after_bounded_attempts(silent):
    access = RegistryAccess(f"http://127.0.0.1:{silent.port}", insecure=True)
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        check_access(access, timeout=0.3, retry=Retry(attempts=2, sleep=lambda s: None))
    assert time.monotonic() - started < 3
    assert caught.value.reason == "unreachable" and "no answer in time" in str(caught.value)
    assert "after 2 attempts" in str(caught.value)


def test_a_registry_trickling_its_answer_hits_the_deadline(trickling):
    access = RegistryAccess(f"http://127.0.0.1:{trickling.port}", insecure=True)
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        check_access(access, timeout=0.4, retry=Retry(attempts=1))
    assert time.monotonic() - started < 3
    assert caught.value.reason == "unreachable"


def test_nothing_listening_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RegistryError) as caught:
        check_access(RegistryAccess(f"http://127.0.0.1:{port}", insecure=True),
                     retry=Retry(attempts=2, sleep=lambda s: None))
    assert caught.value.reason == "unreachable" and "connection failed" in str(caught.value)

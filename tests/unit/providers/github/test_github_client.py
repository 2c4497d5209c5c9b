"""HooksClient against the emulator and against a broken GitHub: what is retried (5xx, dropped
connections) and what never is (401, 403, 404, 422); answers that are HTML, garbage or huge;
paging; repository names and ids refused before any request; and the token, which appears in no
error and no log line."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from flowplan_providers.github.client import (MAX_ANSWER, Backoff, GithubError, HooksClient,
                                              check_hook_id, check_repository)
from flowplan_providers.github.settings import GithubSettings

from conftest import TOKEN

URL = "https://ci.example.com/hooks/ci"


def client_for(base_url: str, attempts: int = 3, waits: list | None = None) -> HooksClient:
    sleep = waits.append if waits is not None else (lambda seconds: None)
    return HooksClient(GithubSettings(TOKEN, base_url), timeout=5,
                       backoff=Backoff(attempts=attempts, sleep=sleep))


@pytest.fixture
def client(github):
    client = client_for(github.base_url)
    yield client
    client.close()


def test_create_get_update_delete_round_trip(client, github):
    hook = client.create("octo-org/app", events=["push"], active=True, url=URL, secret="s3")
    assert client.get("octo-org/app", hook.id) == hook
    changed = client.update("octo-org/app", hook.id, events=["push", "create"], active=False,
                            url=URL, secret="s3")
    assert changed.events == ("push", "create") and changed.active is False
    assert client.delete("octo-org/app", hook.id) is True
    assert client.get("octo-org/app", hook.id) is None
    assert client.delete("octo-org/app", hook.id) is False
    sent = [r for r in github.requests if r.method == "POST"][0]
    assert sent.headers["x-github-api-version"] == "2022-11-28"
    assert sent.headers["content-type"] == "application/json"


def test_server_errors_are_retried_with_backoff_then_succeed(github):
    waits: list = []
    client = client_for(github.base_url, attempts=4, waits=waits)
    github.fail(times=2, status=502)
    hook = client.create("octo-org/app", events=["push"], active=True, url=URL, secret="s")
    assert hook.id and len(waits) == 2 and all(0 < w <= 8 for w in waits)


def test_server_errors_give_up_after_the_attempts_naming_the_repository(github):
    client = client_for(github.base_url, attempts=3)
    github.fail(times=5, status=503)
    with pytest.raises(GithubError) as raised:
        client.get("octo-org/app", "1")
    assert "503 Service Unavailable" in raised.value.message
    assert "octo-org/app" in raised.value.message and "after 3 attempts" in raised.value.message
    assert github.count("GET") == 3


@pytest.mark.parametrize("status,message", [(401, "Bad credentials"), (403, "Forbidden"),
                                            (404, "Not Found"), (422, "Validation Failed")])
def test_client_errors_are_never_retried(github, status, message):
    client = client_for(github.base_url, attempts=4)
    github.answer(status, f'{{"message": "{message}"}}', times=4)
    with pytest.raises(GithubError) as raised:
        client.create("octo-org/app", events=["push"], active=True, url=URL, secret="s")
    assert raised.value.status == status and message in raised.value.message
    assert github.count() == 1


def test_bad_credentials_name_github_message_and_not_the_token(github):
    client = HooksClient(GithubSettings("ghp_wrong_" + TOKEN, github.base_url),
                         backoff=Backoff(attempts=1))
    with pytest.raises(GithubError) as raised:
        client.list("octo-org/app")
    assert "401 Bad credentials" in raised.value.message
    assert "octo-org/app" in raised.value.message
    assert TOKEN not in str(raised.value) and "ghp_wrong" not in str(raised.value)


def test_token_echoed_back_by_a_hostile_server_is_scrubbed(github, client):
    github.answer(422, f'{{"message": "token {TOKEN} is not allowed\\u001b[31m"}}')
    with pytest.raises(GithubError) as raised:
        client.get("octo-org/app", "1")
    assert TOKEN not in raised.value.message and "***" in raised.value.message
    assert "\x1b" not in raised.value.message


def test_token_appears_in_no_log_line(github, caplog):
    caplog.set_level(logging.DEBUG)
    client = client_for(github.base_url)
    github.fail(times=1)
    hook = client.create("octo-org/app", events=["push"], active=True, url=URL, secret="s")
    client.get("octo-org/app", hook.id)
    assert client.get("octo-org/missing", "1") is None
    with pytest.raises(GithubError):
        client.list("octo-org/missing")
    assert caplog.records, "httpx logs its requests at this level"
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("content_type,body", [
    ("text/html; charset=utf-8", "<html><body>Unicorn! 🦄</body></html>"),
    ("application/json", "{not json"),
    ("application/json", "\xff\xfe garbage"),
])
def test_answers_that_are_not_json_are_clean_errors(github, client, content_type, body):
    github.answer(200, body.encode("latin-1", "replace") if "\xff" in body else body,
                  content_type=content_type)
    with pytest.raises(GithubError) as raised:
        client.get("octo-org/app", "1")
    assert "not JSON" in raised.value.message and "octo-org/app" in raised.value.message


def test_an_answer_that_is_not_a_hook_is_a_clean_error(github, client):
    github.answer(200, '{"id": "../../x", "config": 1}')
    with pytest.raises(GithubError) as raised:
        client.get("octo-org/app", "1")
    assert "not a hook" in raised.value.message


def test_a_huge_answer_is_refused_without_reading_it_all(github, client):
    github.answer(200, b'{"message": "' + b"x" * (MAX_ANSWER + 10) + b'"}')
    with pytest.raises(GithubError) as raised:
        client.get("octo-org/app", "1")
    assert "larger than" in raised.value.message


def test_html_error_page_is_shown_as_its_status_not_as_html(github, client):
    github.answer(400, "<html>" + "<p>oops</p>" * 1000 + "</html>", content_type="text/html")
    with pytest.raises(GithubError) as raised:
        client.get("octo-org/app", "1")
    assert "400" in raised.value.message and "<p>" not in raised.value.message
    assert len(raised.value.message) < 400


def test_list_follows_link_pages(github, client):
    for number in range(7):
        github.add_hook("octo-org/app", f"https://ci.example.com/hooks/h{number}")
    listed = [h.url for h in client.list("octo-org/app")]
    assert listed == [f"https://ci.example.com/hooks/h{n}" for n in range(7)]


def test_list_reads_every_page_of_a_paged_answer(github, client):
    for number in range(3):
        github.add_hook("octo-org/app", f"https://ci.example.com/hooks/p{number}")
    answer, following = client._request_page("octo-org/app", "/hooks?per_page=2")
    assert len(answer) == 2 and following == "/hooks?per_page=2&page=2"
    answer, following = client._request_page("octo-org/app", following)
    assert len(answer) == 1 and following is None


def test_a_next_link_to_another_host_is_not_followed(github, client):
    github.answer(200, "[]", content_type="application/json")
    github.requests.clear()
    original = github.handle

    def elsewhere(method, target, headers, body):
        status, data, kind, extra = original(method, target, headers, body)
        return status, data, kind, {"Link": '<https://evil.example.net/repos/octo-org/app/'
                                            'hooks?page=2>; rel="next"'}
    github.handle = elsewhere
    assert client.list("octo-org/app") == []
    assert github.count() == 1


def test_connection_failures_are_retried_then_reported_without_the_token():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()                                  # nothing listens there now
    waits: list = []
    client = client_for(f"http://127.0.0.1:{port}", attempts=3, waits=waits)
    with pytest.raises(GithubError) as raised:
        client.get("octo-org/app", "1")
    assert "Cannot reach GitHub" in raised.value.message and len(waits) == 2
    assert TOKEN not in raised.value.message and raised.value.status is None


def test_a_dropped_connection_is_retried():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]

    def drop_every_request() -> None:
        for _ in range(2):
            connection, _ = server.accept()
            connection.recv(65536)
            connection.close()                         # no answer at all
    thread = threading.Thread(target=drop_every_request, daemon=True)
    thread.start()
    client = client_for(f"http://127.0.0.1:{port}", attempts=2)
    with pytest.raises(GithubError) as raised:
        client.get("octo-org/app", "1")
    server.close()
    thread.join(5)
    assert "after 2 attempts" in raised.value.message


@pytest.mark.parametrize("repository", [
    "octo-org/../admin", "octo-org/app/hooks", "octo%2Forg/app", "../app", "octo-org/..",
    "octo-org/app?x=1", "octo-org/app#x", "/app", "octo-org/", "octo org/app", "octo-org/app\n",
    "octo-org/app.git", "-octo/app", "a" * 40 + "/app", "octo-org/" + "a" * 101, "ｏcto/app"])
def test_hostile_repository_names_are_refused_before_any_request(github, client, repository):
    assert check_repository(repository) is not None
    with pytest.raises(GithubError) as raised:
        client.create(repository, events=["push"], active=True, url=URL, secret="s")
    assert "Refused to call GitHub" in raised.value.message
    assert github.requests == []


@pytest.mark.parametrize("hook_id", ["0", "-1", "1/../2", "1%2F2", "12a", "", "1" * 21, True])
def test_hostile_hook_ids_are_refused_before_any_request(github, client, hook_id):
    assert check_hook_id(hook_id) is not None
    with pytest.raises(GithubError):
        client.get("octo-org/app", hook_id)
    assert github.requests == []


def test_valid_names_pass():
    assert check_repository("octo-org/app.site_v2") is None
    assert check_repository("a/b") is None
    assert check_hook_id("123456789") is None and check_hook_id(5) is None


def test_redirects_are_not_followed(github, client):
    github.answer(301, "", content_type="text/plain")
    with pytest.raises(GithubError) as raised:
        client.get("octo-org/app", "1")
    assert "301" in raised.value.message


def test_settings_repr_never_shows_the_token():
    assert TOKEN not in repr(GithubSettings(TOKEN, "https://api.github.com"))

"""The GitHub hooks emulator answers as GitHub does where the provider's tests rely on it:
authentication, unknown repositories, JSON bodies only, validation errors with `errors`, the
secret never shown, Link paging; and it runs as a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.emulators.github import GithubEmulator

TOKEN = "ghp_emulator_token"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def github():
    with GithubEmulator(TOKEN, ("octo-org/app",)) as emulator:
        yield emulator


def call(github, method, path, body=None, token=TOKEN, scheme="Bearer", **headers):
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    content = json.dumps(body).encode() if isinstance(body, dict) else body
    if isinstance(body, dict):
        headers.setdefault("Content-Type", "application/json")
    return httpx.request(method, github.base_url + path, content=content, headers=headers)


HOOK = {"name": "web", "events": ["push"], "config": {"url": "https://ci.example.com/hooks/a",
                                                      "content_type": "json", "secret": "s"}}


def test_authentication_is_required_and_both_schemes_work(github):
    assert call(github, "GET", "/repos/octo-org/app/hooks", token=None).json()["message"] == \
        "Requires authentication"
    wrong = call(github, "GET", "/repos/octo-org/app/hooks", token="nope")
    assert (wrong.status_code, wrong.json()["message"]) == (401, "Bad credentials")
    assert call(github, "GET", "/repos/octo-org/app/hooks", scheme="token").status_code == 200
    assert call(github, "GET", "/repos/octo-org/app/hooks").status_code == 200


def test_unknown_repository_and_hook_are_not_found(github):
    for path in ("/repos/octo-org/nope/hooks", "/repos/octo-org/app/hooks/1", "/user"):
        answer = call(github, "GET", path)
        assert (answer.status_code, answer.json()["message"]) == (404, "Not Found")


def test_create_shows_the_hook_with_the_secret_masked(github):
    answer = call(github, "POST", "/repos/octo-org/app/hooks", HOOK)
    assert answer.status_code == 201
    shown = answer.json()
    assert shown["config"]["secret"] == "********" and shown["name"] == "web"
    assert github.hooks("octo-org/app")[shown["id"]].config["secret"] == "s"
    again = call(github, "GET", f"/repos/octo-org/app/hooks/{shown['id']}").json()
    assert again == shown


@pytest.mark.parametrize("body,message", [
    ({**HOOK, "events": ["push", "bogus"]}, "Invalid event: 'bogus'"),
    ({**HOOK, "config": {"content_type": "json"}}, "Config must contain URL"),
    ({**HOOK, "config": {"url": "ftp://x"}}, "is not a valid URL"),
])
def test_validation_failures_are_422_with_errors(github, body, message):
    answer = call(github, "POST", "/repos/octo-org/app/hooks", body)
    assert answer.status_code == 422
    assert answer.json()["message"] == "Validation Failed"
    assert message in answer.json()["errors"][0]["message"]


def test_a_second_hook_with_the_same_url_already_exists(github):
    call(github, "POST", "/repos/octo-org/app/hooks", HOOK)
    answer = call(github, "POST", "/repos/octo-org/app/hooks", HOOK)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["message"] == "Hook already exists on this repository"


def test_bodies_must_be_json(github):
    form = call(github, "POST", "/repos/octo-org/app/hooks", b"name=web",
                **{"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    broken = call(github, "POST", "/repos/octo-org/app/hooks", b"{nope",
                  **{"Content-Type": "application/json"})
    assert (broken.status_code, broken.json()["message"]) == (400, "Problems parsing JSON")


def test_api_version_header_is_checked(github):
    assert call(github, "GET", "/repos/octo-org/app/hooks",
                **{"X-GitHub-Api-Version": "2022-11-28"}).status_code == 200
    assert call(github, "GET", "/repos/octo-org/app/hooks",
                **{"X-GitHub-Api-Version": "1999-01-01"}).status_code == 400


def test_patch_replaces_config_and_edits_events(github):
    hook_id = call(github, "POST", "/repos/octo-org/app/hooks", HOOK).json()["id"]
    answer = call(github, "PATCH", f"/repos/octo-org/app/hooks/{hook_id}",
                  {"add_events": ["create"], "remove_events": ["push"], "active": False})
    assert answer.json()["events"] == ["create"] and answer.json()["active"] is False
    emptied = call(github, "PATCH", f"/repos/octo-org/app/hooks/{hook_id}",
                   {"remove_events": ["create"]})
    assert emptied.status_code == 422
    assert call(github, "DELETE", f"/repos/octo-org/app/hooks/{hook_id}").status_code == 204


def test_list_is_paged_with_a_link_header(github):
    for number in range(5):
        github.add_hook("octo-org/app", f"https://ci.example.com/hooks/{number}")
    first = call(github, "GET", "/repos/octo-org/app/hooks?per_page=2")
    assert len(first.json()) == 2 and first.links["next"]["url"].endswith("page=2")
    last = call(github, "GET", "/repos/octo-org/app/hooks?per_page=2&page=3")
    assert len(last.json()) == 1 and "next" not in last.links


def test_recorded_requests_hold_no_token(github):
    call(github, "GET", "/repos/octo-org/app/hooks")
    assert TOKEN not in repr(github.requests)


def test_runs_as_a_process_of_its_own():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.github", "--port", "0", "--token", TOKEN,
         "--repository", "octo-org/cli"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        base_url = line.split(" listening on ")[1].split(" ")[0]
        answer = httpx.get(f"{base_url}/repos/octo-org/cli/hooks",
                           headers={"Authorization": f"token {TOKEN}"})
        assert answer.status_code == 200 and answer.json() == []
    finally:
        process.terminate()
        assert process.wait(10) == 0

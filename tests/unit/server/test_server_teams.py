"""A server serves one team (`flowplan serve --team`): two servers over the same config
directory and store, one for team `default` and one for team `blue`, with the same pipelines
applied in both teams. A user of one team cannot see or act on the other's runs through the
other's server (pages, API, approvals, logs, artifacts): a non-member is refused at login (the
form says why) and on the API (403); through their own team's server the other team's runs do
not exist (404). Roles are per team too: holding `ops` in team default lets bob approve
nothing in blue."""

from __future__ import annotations

import pytest

from web_app import close_web_app, wait_for_run
from web_workspace import ACCOUNT, PASSWORDS, PIPELINES, apply_config, login_token

BLUE_RUN = "/api/v1/runs/release/1"
RUN_ROUTES = [
    ("GET", BLUE_RUN),
    ("POST", f"{BLUE_RUN}/approve"),
    ("POST", f"{BLUE_RUN}/reject"),
    ("POST", f"{BLUE_RUN}/cancel"),
    ("GET", f"{BLUE_RUN}/logs"),
    ("GET", f"{BLUE_RUN}/artifacts/package"),
]


class TeamServer:
    def __init__(self, directory, team: str) -> None:
        from argon2 import PasswordHasher
        from fastapi.testclient import TestClient

        from flowplan.server.app import create_app
        from flowplan.server.auth import Authenticator
        from flowplan.server.context import ServerContext

        self.context = ServerContext.load(directory, {}, team=team)
        cheap = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
        self.context.auth = Authenticator(self.context.store, hasher=cheap, team=team)
        self.client = TestClient(create_app(self.context))

    def login(self, user: str):
        return self.client.post("/login", data={"username": user, "password": PASSWORDS[user],
                                                "login_token": login_token(self.client)},
                                follow_redirects=False)

    def close(self) -> None:
        self.client.close()
        close_web_app(self.context)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """(default's server, blue's server, tokens): alice is a member of default, bob of blue;
    both hold role `ops` in team default, nobody in team blue; blue's release#1 waits for its
    approval, with its build log and artifact recorded."""
    from flowplan import teams

    directory = tmp_path_factory.mktemp("teams") / "config"
    directory.mkdir()
    config = PIPELINES.replace("@USER@", ACCOUNT)
    apply_config(directory, config)                         # team default
    teams.create_team(directory, "blue")
    teams.select_team(directory, "blue")
    apply_config(directory, config)                         # team blue: the same pipelines
    teams.select_team(directory, "default")
    default, blue = TeamServer(directory, "default"), TeamServer(directory, "blue")
    store = default.context.store
    for name in PASSWORDS:
        store.add_user(name, default.context.auth.hash_password(PASSWORDS[name]))
    store.add_team_member("default", "alice")
    store.add_team_member("blue", "bob")
    store.grant_role("ops", "alice")
    store.grant_role("ops", "bob")
    tokens = {name: default.context.auth.create_token(name) for name in PASSWORDS}
    started = blue.client.post("/api/v1/pipelines/release/runs", json={},
                               headers={"Authorization": f"Bearer {tokens['bob']}"})
    assert started.status_code == 202, started.text
    wait_for_run(blue.context, "release#1", "waiting")
    try:
        yield default, blue, tokens
    finally:
        default.close()
        blue.close()


def bearer(tokens, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


def blue_run(blue):
    return blue.context.store.find_run("release", 1)


@pytest.mark.parametrize("method,path", RUN_ROUTES + [("GET", "/api/v1/pipelines"),
                                                      ("POST", "/api/v1/pipelines/quick/runs")])
def test_a_non_member_token_is_refused_with_403_on_every_route(servers, method, path):
    _default, blue, tokens = servers
    response = blue.client.request(method, path, json={"task": "approval"},
                                   headers=bearer(tokens, "alice"))
    assert response.status_code == 403
    assert "alice is not a member of team blue" in response.json()["error"]
    assert blue.context.service.list_runs("quick") == []


@pytest.mark.parametrize("method,path", RUN_ROUTES)
def test_through_its_own_server_another_teams_run_does_not_exist(servers, method, path):
    default, blue, tokens = servers
    response = default.client.request(method, path, json={"task": "approval"},
                                      headers=bearer(tokens, "alice"))
    assert response.status_code == 404
    run = blue_run(blue)
    assert run.status == "waiting"
    assert blue.context.store.approvals(run.id) == []


def test_the_other_teams_history_is_not_listed(servers):
    default, blue, tokens = servers
    listed = default.client.get("/api/v1/pipelines/release/runs", headers=bearer(tokens, "alice"))
    assert listed.status_code == 200 and "release#1" not in listed.text
    own = blue.client.get("/api/v1/pipelines/release/runs", headers=bearer(tokens, "bob"))
    assert own.status_code == 200 and "release#1" in own.text
    logs = blue.client.get(f"{BLUE_RUN}/logs", headers=bearer(tokens, "bob"))
    assert logs.status_code == 200 and "hello from build" in logs.text
    artifact = blue.client.get(f"{BLUE_RUN}/artifacts/package", headers=bearer(tokens, "bob"))
    assert artifact.status_code == 200


def test_a_non_member_is_refused_at_login_and_the_form_says_why(servers):
    _default, blue, _tokens = servers
    refused = blue.login("alice")
    assert refused.status_code == 403
    assert "alice is not a member of team blue" in refused.text
    assert "flowplan_session" not in blue.client.cookies
    page = blue.client.get("/runs/release/1", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_a_session_from_the_other_teams_server_opens_no_page_here(servers):
    default, blue, _tokens = servers
    assert default.login("alice").status_code == 303
    cookie = default.client.cookies.get("flowplan_session")
    blue.client.cookies.set("flowplan_session", cookie)       # the same host, another port
    try:
        for path in ("/", "/runs/release/1", "/runs/release/1/artifacts/package",
                     "/pipelines/release"):
            page = blue.client.get(path, follow_redirects=False)
            assert page.status_code in (303, 401), path
            assert "hello from build" not in page.text
        events = blue.client.get("/runs/release/1/events")
        assert events.status_code == 401
        api = blue.client.get(BLUE_RUN)
        assert api.status_code == 403
    finally:
        blue.client.cookies.clear()
        default.client.cookies.clear()


def test_a_role_granted_in_another_team_lets_its_member_approve_nothing_here(servers):
    default, blue, tokens = servers
    blue.context.store.revoke_role("ops", "bob")
    assert default.context.store.role_members("ops") == ["alice", "bob"]
    for decision in ("approve", "reject"):
        refused = blue.client.post(f"{BLUE_RUN}/{decision}", json={"task": "approval"},
                                   headers=bearer(tokens, "bob"))
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert f"bob may not {decision} release#1" in error and "alice" not in error
    forged = blue.client.post(f"{BLUE_RUN}/approve", json={"task": "approval", "team": "default"},
                              headers=bearer(tokens, "bob"))
    assert forged.status_code in (403, 422), forged.text      # a team is never taken from input
    forged = blue.client.post(f"{BLUE_RUN}/approve?team=default", json={"task": "approval"},
                              headers={**bearer(tokens, "bob"), "X-Flowplan-Team": "default"})
    assert forged.status_code == 403, forged.text
    assert blue.context.store.approvals(blue_run(blue).id) == []
    assert blue_run(blue).status == "waiting"


def test_a_member_sees_and_approves_their_teams_run(servers):
    _default, blue, tokens = servers
    blue.context.store.grant_role("ops", "bob")                # ops in team blue, now
    assert blue.login("bob").status_code == 303
    try:
        page = blue.client.get("/runs/release/1")
        assert page.status_code == 200 and "release" in page.text
    finally:
        blue.client.cookies.clear()
    approved = blue.client.post(f"{BLUE_RUN}/approve", json={"task": "approval"},
                                headers=bearer(tokens, "bob"))
    assert approved.status_code in (200, 202), approved.text
    assert [a.user for a in blue.context.store.approvals(blue_run(blue).id)] == ["bob"]
    wait_for_run(blue.context, "release#1", "succeeded", "failed")

"""Two real `flowplan serve --team` processes over one config directory and store, one per
team: members get in, everyone else is refused at the API (403) and at the login form; each
server's API lists its own team's runs only."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import httpx
import pytest

from cli_workspace import assert_ok

CONFIG = """
pipeline "app" {
  stage "build" {
    task "compile" {
      step "hello" {
        type = "command"
        run  = "echo built"
      }
    }
  }
}
"""
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+) \(config .*, team (\S+)\)")
TOKEN = re.compile(r"fpt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")
PASSWORD = "a long enough password"

pytestmark = pytest.mark.timeout(900)      # a dozen commands and two servers: slow when loaded


def start_server(workspace, team: str, log_name: str) -> tuple[subprocess.Popen, str]:
    out = open(workspace.root / f"{log_name}.out", "wb")
    process = subprocess.Popen(workspace.command("serve", "--team", team, "--port", "0"),
                               env=workspace.base_env(), stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.STDOUT, cwd=workspace.root)
    out.close()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        text = (workspace.root / f"{log_name}.out").read_text(errors="replace")
        found = LISTENING.search(text)
        if found and "REST API" in text:
            assert found.group(2) == team
            return process, found.group(1)
        assert process.poll() is None, text
        time.sleep(0.1)
    process.kill()
    raise AssertionError("flowplan serve did not start")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_one_server_per_team_lets_in_its_members_only(workspace, run_flowplan):
    workspace.write(CONFIG)
    assert_ok(run_flowplan("apply", "--auto-approve"))
    assert_ok(run_flowplan("run", "app"))
    assert_ok(run_flowplan("team", "new", "blue"))
    assert_ok(run_flowplan("apply", "--auto-approve"))
    assert_ok(run_flowplan("team", "select", "default"))
    assert_ok(run_flowplan("user", "add", "alice", input=PASSWORD + "\n"))
    assert_ok(run_flowplan("user", "add", "bob", "--team", "blue", input=PASSWORD + "\n"))
    tokens = {user: TOKEN.search(assert_ok(run_flowplan("token", "create", user)).stdout)
              .group(0) for user in ("alice", "bob")}
    refused = run_flowplan("serve", "--team", "ghost", "--port", "0")
    assert refused.code == 1 and "flowplan team new ghost" in refused.stderr

    default, default_url = start_server(workspace, "default", "serve-default")
    try:
        blue, blue_url = start_server(workspace, "blue", "serve-blue")
        try:
            def get(url, user, path="/api/v1/pipelines/app/runs"):
                return httpx.get(url + path, timeout=30,
                                 headers={"Authorization": f"Bearer {tokens[user]}"})

            assert get(default_url, "alice").status_code == 200
            assert "app#1" in get(default_url, "alice").text
            own = get(blue_url, "bob")
            assert own.status_code == 200 and "app#1" not in own.text     # blue ran nothing
            for url, user, team in ((blue_url, "alice", "blue"), (default_url, "bob", "default")):
                answer = get(url, user)
                assert answer.status_code == 403
                assert f"{user} is not a member of team {team}" in answer.json()["error"]
                assert get(url, user, "/api/v1/runs/app/1").status_code == 403
            with httpx.Client(base_url=blue_url, timeout=30) as browser:
                form = browser.get("/login").text
                token = re.search(r'name="login_token" value="([^"]+)"', form).group(1)
                login = browser.post("/login", data={"username": "alice", "password": PASSWORD,
                                                     "login_token": token})
                assert login.status_code == 403
                assert "alice is not a member of team blue" in login.text
                assert "flowplan_session" not in browser.cookies
        finally:
            stop(blue)
    finally:
        stop(default)

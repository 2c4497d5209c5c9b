"""The github provider through flowplan's engine against the GitHub emulator: a webhook is
created, updated in place, replaced and deleted as GitHub hooks; a refresh sees a hook deleted or
changed by hand; the secret reaches GitHub and never the state; a hook registered by hand is
imported; the token never shows."""

from __future__ import annotations


import pytest

from flowplan import engine
from flowplan.diagnostics import DiagnosticsError
from inline import InlineConfigError, actions_of, apply_all, change_of, inline_config, plan_of

from conftest import SECRET, TOKEN

PIPELINE = """
pipeline "ci" {
  stage "build" {
    task "t" {
      step "s" {
        type = "command"
        run  = "true"
      }
    }
  }
}
"""


def config(github, *, repository="octo-org/app", events='["push"]', active="true",
           server='url = "https://ci.example.com"', extra="", token="var.github_token",
           secret="var.webhook_secret") -> str:
    return f"""
variable "github_token" {{
  type      = string
  sensitive = true
}}
variable "webhook_secret" {{
  type      = string
  sensitive = true
}}
flowplan {{
  server {{
    {server}
  }}
}}
provider "github" {{
  token    = {token}
  base_url = "{github.base_url}"
}}
{PIPELINE}
webhook "ci" {{
  pipeline   = pipeline.ci
  repository = "{repository}"
  events     = {events}
  branches   = ["main"]
  secret     = {secret}
  active     = {active}
  {extra}
}}
"""


def load(directory, github, provider, secret=SECRET, **options):
    return inline_config(directory, config(github, **options),
                         {"github_token": TOKEN, "webhook_secret": secret},
                         providers={"github": provider})


def the_hook(github, repository="octo-org/app"):
    hooks = list(github.hooks(repository).values())
    assert len(hooks) == 1, hooks
    return hooks[0]


def test_apply_creates_a_json_hook_with_the_secret_and_records_its_id(tmp_path, github,
                                                                       provider):
    workspace = load(tmp_path, github, provider)
    plan = plan_of(workspace)
    assert change_of(plan, "webhook.ci").after["url"] == "https://ci.example.com/hooks/ci"
    apply_all(workspace)

    hook = the_hook(github)
    assert hook.config == {"url": "https://ci.example.com/hooks/ci", "content_type": "json",
                           "insecure_ssl": "0", "secret": SECRET}
    assert hook.events == ["push"] and hook.active is True
    recorded = workspace.backend.read().get("webhook.ci").attributes
    assert recorded["id"] == str(hook.id)
    assert recorded["url"] == "https://ci.example.com/hooks/ci"
    assert recorded["secret"]["$sensitive"].startswith("sha256:")
    assert SECRET not in workspace.backend.path.read_text()
    assert TOKEN not in workspace.backend.path.read_text()
    assert actions_of(plan_of(workspace)) == {"pipeline.ci": "no-op", "webhook.ci": "no-op"}


def test_changed_events_and_active_are_patched_in_place(tmp_path, github, provider):
    apply_all(load(tmp_path, github, provider))
    hook_id = the_hook(github).id
    workspace = load(tmp_path, github, provider, events='["push", "pull_request"]',
                     active="false")
    assert actions_of(plan_of(workspace))["webhook.ci"] == "update"
    apply_all(workspace)
    hook = the_hook(github)
    assert (hook.id, hook.events, hook.active) == (hook_id, ["push", "pull_request"], False)
    assert hook.config["secret"] == SECRET, "a PATCH of the config keeps the secret"
    assert github.count("PATCH") == 1 and github.count("POST") == 1


def test_rotated_secret_is_patched_and_filters_alone_touch_nothing_on_github(tmp_path, github,
                                                                            provider):
    apply_all(load(tmp_path, github, provider))
    apply_all(load(tmp_path, github, provider, secret="whsec-rotated-771"))
    assert the_hook(github).config["secret"] == "whsec-rotated-771"
    patches = github.count("PATCH")
    workspace = load(tmp_path, github, provider, secret="whsec-rotated-771",
                     extra='paths = ["src/**"]')
    assert actions_of(plan_of(workspace))["webhook.ci"] == "update"
    apply_all(workspace)
    assert github.count("PATCH") == patches, "paths is flowplan's filter, not GitHub's"
    assert workspace.backend.read().get("webhook.ci").attributes["paths"] == ["src/**"]


def test_changed_repository_replaces_the_hook(tmp_path, github, provider):
    apply_all(load(tmp_path, github, provider))
    workspace = load(tmp_path, github, provider, repository="octo-org/other")
    change = change_of(plan_of(workspace), "webhook.ci")
    assert change.action.value == "replace" and "repository" in change.reason
    apply_all(workspace)
    assert github.hooks("octo-org/app") == {}
    assert the_hook(github, "octo-org/other").config["secret"] == SECRET


def test_destroy_deletes_the_hook(tmp_path, github, provider):
    workspace = load(tmp_path, github, provider)
    apply_all(workspace)
    apply_all(workspace, destroy=True)
    assert github.hooks("octo-org/app") == {}
    assert workspace.backend.read().get("webhook.ci") is None


def test_hook_deleted_by_hand_is_created_again(tmp_path, github, provider):
    workspace = load(tmp_path, github, provider)
    apply_all(workspace)
    github.delete_hook("octo-org/app", the_hook(github).id)
    assert actions_of(plan_of(workspace))["webhook.ci"] == "create"
    apply_all(workspace)
    assert the_hook(github).config["secret"] == SECRET


def test_events_and_url_changed_by_hand_show_as_drift_and_are_put_back(tmp_path, github,
                                                                      provider):
    workspace = load(tmp_path, github, provider)
    apply_all(workspace)
    hook = the_hook(github)
    github.edit_hook("octo-org/app", hook.id, events=["push", "issues"],
                     url="https://attacker.example.net/x")
    change = change_of(plan_of(workspace), "webhook.ci")
    assert change.action.value == "update"
    assert change.before["events"] == ["push", "issues"]
    assert change.before["url"] == "https://attacker.example.net/x"
    apply_all(workspace)
    hook = the_hook(github)
    assert hook.events == ["push"] and hook.config["url"] == "https://ci.example.com/hooks/ci"


def test_loopback_delivery_url_is_a_warning_at_plan(tmp_path, github, provider):
    workspace = load(tmp_path, github, provider, server='port = 9191')
    events: list = []
    plan = plan_of(workspace, events=events)
    assert change_of(plan, "webhook.ci").after["url"] == "http://127.0.0.1:9191/hooks/ci"
    warnings = [str(vars(e)) for e in events if "cannot reach" in str(vars(e))]
    assert warnings and "http://127.0.0.1:9191/hooks/ci" in warnings[0]


def test_literal_token_is_refused_at_its_line(tmp_path, github, provider):
    text = config(github, token='"ghp_written_into_the_file"')
    workspace = inline_config(tmp_path, text, {"github_token": TOKEN, "webhook_secret": SECRET},
                              providers={"github": provider})
    line = 1 + text.lstrip("\n").splitlines().index('  token    = "ghp_written_into_the_file"')
    with pytest.raises(DiagnosticsError) as raised:
        plan_of(workspace)
    problem = next(d for d in raised.value.diagnostics if "written into" in d.summary)
    assert problem.range is not None and problem.range.line == line
    assert github.requests == []


def test_literal_secret_is_refused_at_its_line_even_by_validate(tmp_path, github, provider):
    text = config(github, secret='"whsec-in-the-file"')
    variables = {"github_token": TOKEN, "webhook_secret": SECRET}
    workspace = inline_config(tmp_path, text, variables, providers={"github": provider})
    line = 1 + text.lstrip("\n").splitlines().index('  secret     = "whsec-in-the-file"')
    for attempt in (lambda: plan_of(workspace),
                    lambda: engine.validate(tmp_path, variables, {}, registry=workspace.registry)):
        with pytest.raises(DiagnosticsError) as raised:
            attempt()
        problem = next(d for d in raised.value.diagnostics if "written into" in d.summary)
        assert problem.range.line == line and problem.address == "webhook.ci"
    assert github.requests == []


def test_secret_from_an_expression_of_a_sensitive_variable_is_fine(tmp_path, github, provider):
    workspace = inline_config(tmp_path, config(github, secret='lower(var.webhook_secret)'),
                              {"github_token": TOKEN, "webhook_secret": SECRET.upper()},
                              providers={"github": provider})
    apply_all(workspace)
    assert the_hook(github).config["secret"] == SECRET


def test_wrong_token_stops_the_plan_and_is_never_shown(tmp_path, github, provider):
    workspace = load(tmp_path, github, provider)
    apply_all(workspace)
    github.token = "ghp_the_other_one"
    with pytest.raises(DiagnosticsError) as raised:
        plan_of(workspace)
    text = "\n".join(f"{d.summary}: {d.detail}" for d in raised.value.diagnostics)
    assert "401 Bad credentials" in text and "octo-org/app" in text
    assert TOKEN not in text


def test_repository_names_that_could_steer_requests_are_refused_offline(tmp_path, github,
                                                                        provider):
    for hostile in ("octo-org/../admin", "octo-org/app/hooks", "octo%2Forg/app", "../app",
                    "octo-org/app?x=1", "octo-org/.."):
        with pytest.raises((InlineConfigError, DiagnosticsError)) as raised:
            workspace = load(tmp_path, github, provider, repository=hostile)
            engine.validate(workspace.directory, {"github_token": TOKEN,
                                                  "webhook_secret": SECRET}, {},
                            registry=workspace.registry)
        assert "Invalid `repository`" in str(raised.value.diagnostics), hostile
    assert github.requests == []


def test_unknown_event_is_refused_by_github_with_its_message(tmp_path, github, provider):
    workspace = load(tmp_path, github, provider, events='["push", "pushes"]')
    applied = apply_all(workspace, ok=False)
    text = str(applied.result.diagnostics)
    assert "422 Validation Failed" in text and "Invalid event: 'pushes'" in text
    assert github.hooks("octo-org/app") == {}


def test_existing_hook_with_the_same_url_names_the_import_command(tmp_path, github, provider):
    hook = github.add_hook("octo-org/app", "https://ci.example.com/hooks/ci", secret="old")
    applied = apply_all(load(tmp_path, github, provider), ok=False)
    text = str(applied.result.diagnostics)
    assert "Hook already exists on this repository" in text
    assert f"flowplan import webhook.ci octo-org/app/{hook.id}" in text


def test_import_reads_a_hook_made_by_hand_and_the_next_plan_only_sets_the_secret(
        tmp_path, github, provider):
    hook = github.add_hook("octo-org/app", "https://ci.example.com/hooks/ci",
                           events=["push"], secret="set-by-hand")
    workspace = load(tmp_path, github, provider)
    apply_all(workspace, targets=("pipeline.ci",))
    imported = engine.import_resource(workspace, "webhook.ci", f"octo-org/app/{hook.id}")
    assert imported.attributes["id"] == str(hook.id)
    assert imported.attributes["pipeline"] == "pipeline.ci"
    assert imported.attributes["branches"] == ["main"]

    change = change_of(plan_of(workspace), "webhook.ci")
    assert change.action.value == "update"
    assert [c.path for c in change.attribute_changes] == ["secret"], \
        "GitHub never shows the secret: setting it is the one real difference"
    apply_all(workspace)
    assert the_hook(github).config["secret"] == SECRET
    assert the_hook(github).id == hook.id
    assert actions_of(plan_of(workspace))["webhook.ci"] == "no-op"


def test_import_refuses_a_malformed_id_before_any_request(tmp_path, github, provider):
    workspace = load(tmp_path, github, provider)
    for hostile in ("octo-org/app", "octo-org/app/12/../../x", "octo-org/app/0x10",
                    "octo-org/../app/1", "a/b/c/1"):
        with pytest.raises(DiagnosticsError) as raised:
            engine.import_resource(workspace, "webhook.ci", hostile)
        assert "OWNER/REPO/HOOKID" in str(raised.value.diagnostics) or \
            "is not" in str(raised.value.diagnostics), hostile
    assert github.requests == []


def test_import_of_a_missing_hook_writes_nothing(tmp_path, github, provider):
    workspace = load(tmp_path, github, provider)
    with pytest.raises(DiagnosticsError) as raised:
        engine.import_resource(workspace, "webhook.ci", "octo-org/app/999")
    assert "has no hook 999 on octo-org/app" in str(raised.value.diagnostics)
    assert "webhook.ci" not in workspace.backend.read()


def test_apply_rides_out_server_errors(tmp_path, github, provider):
    github.fail(times=2, status=502)
    apply_all(load(tmp_path, github, provider))
    assert the_hook(github).config["secret"] == SECRET
    assert github.count("POST") == 3


def test_a_refresh_answered_with_an_html_page_stops_the_plan_cleanly(tmp_path, github,
                                                                     provider):
    workspace = load(tmp_path, github, provider)
    apply_all(workspace)
    github.answer(200, "<!DOCTYPE html><title>Sign in</title>" + "x" * 10000,
                  content_type="text/html", times=5)
    with pytest.raises(DiagnosticsError) as raised:
        plan_of(workspace)
    text = "\n".join(f"{d.summary}: {d.detail}" for d in raised.value.diagnostics)
    assert "Cannot read webhook.ci" in text and "not JSON (text/html)" in text
    assert "octo-org/app" in text and TOKEN not in text and "<title>" not in text

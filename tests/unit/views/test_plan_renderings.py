"""The three plan views and the diagnostics view against golden files a reviewer can read.

Regenerate with FLOWPLAN_UPDATE_GOLDEN=1, then read the diff of tests/golden before committing.
"""

import json
import os
import re
from pathlib import Path

import pytest

from flowplan.diagnostics import Diagnostic, Range
from flowplan.plan import Action, Plan, ResourceChange, decide_action, diff_attributes
from flowplan.views import (
    render_diagnostics,
    render_plan_human,
    render_plan_json,
    render_plan_markdown,
    summary_line,
)

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
UNKNOWN = {"$unknown": "known after apply"}
TOKEN = {"$sensitive": "sha256:5f1e:3b7c9a"}
NEW_TOKEN = {"$sensitive": "sha256:77aa:01de42"}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("FLOWPLAN_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; see FLOWPLAN_UPDATE_GOLDEN"


def resource_change(address, prior, planned, force_new=(), provider="flowplan",
                    delete_reason=None) -> ResourceChange:
    type_, name = address.split(".")
    action, reason = decide_action(prior, planned, force_new, delete_reason=delete_reason)
    changes = () if action is Action.NOOP else diff_attributes(prior, planned, force_new)
    return ResourceChange(address=address, type=type_, name=name, provider=provider,
                          action=action, reason=reason, before=prior, after=planned,
                          attribute_changes=changes)


def java_pipeline(build_command: str, **extra) -> dict:
    return {
        "source": "app",
        "stages": {
            "build": {"tasks": {"package": {"steps": {
                "mvn": {"type": "java_build", "command": build_command},
                "archive": {"type": "archive", "name": "package",
                            "paths": ["target/application.jar", "deploy.sh"]},
            }}}},
            "deploy": {"trigger": "manual", "tasks": {"ecs": {"steps": {"deploy": {
                "type": "host_deploy", "artifact": "package", "deployment_group": "daily",
                "batches": 2, "pause": "first_batch",
                "script": "tar zxvf /home/admin/app/package.tgz -C /home/admin/application/\n"
                          "sh /home/admin/application/deploy.sh restart\n",
            }}}}},
        },
        **extra,
    }


def all_actions_plan() -> Plan:
    old_group = {"id": "dg-9", "environment": "old",
                 "hosts": {"web1": {"address": "127.0.0.9", "user": "admin"}}}
    app_before = java_pipeline("mvn -B package", id="p-1",
                               variables={"IMAGE_TAG": "latest", "DEPLOY_TOKEN": TOKEN})
    app_after = java_pipeline("mvn -B package -DskipTests", id="p-1",
                              variables={"IMAGE_TAG": {"$deferred": "${run.commit_short}",
                                                       "sensitive": False},
                                         "DEPLOY_TOKEN": NEW_TOKEN})
    new_pipeline = {
        "id": UNKNOWN,
        "source": "web",
        "variables": {"NPM_TOKEN": {"$deferred": "${var.npm_token}", "sensitive": True}},
        "stages": {"test": {"tasks": {"unit": {"steps": {
            "npm": {"type": "nodejs_test", "command": "npm ci && npm test",
                    "node_version": "20", "paths": ["coverage/"]},
        }}}}},
    }
    nightly_before = {"id": "sch-1", "pipeline": "java_ecs", "cron": "0 2 * * *",
                      "timezone": "Asia/Seoul"}
    nightly_after = {"id": UNKNOWN, "pipeline": "java_k8s", "cron": "0 2 * * *",
                     "timezone": "Asia/Seoul"}
    push = {"id": "hook-3", "events": ["push"], "branches": ["master"], "secret": TOKEN}
    return Plan(
        changes=(
            resource_change("deployment_group.old", old_group, None, provider="ssh"),
            resource_change("pipeline.app", app_before, app_after),
            resource_change("pipeline.new", None, new_pipeline),
            resource_change("schedule.nightly", nightly_before, nightly_after, ("pipeline",)),
            resource_change("webhook.push", push, dict(push), provider="github"),
        ),
        state_lineage="0c4e7a52-9d1b-4f0e-8a63-2b5d1f9e7c10",
        state_serial=12,
        destroy=False,
        created_at="2024-05-01T12:00:00Z",
        config_dir="/srv/delivery",
    )


def no_changes_plan() -> Plan:
    push = {"id": "hook-3", "events": ["push"]}
    return Plan(changes=(resource_change("webhook.push", push, dict(push)),),
                state_lineage="0c4e7a52", state_serial=3, destroy=False,
                created_at="2024-05-01T12:00:00Z", config_dir="/srv/delivery")


def test_plan_with_all_actions_renders_as_human_text():
    check_golden("plan_all_actions.txt", render_plan_human(all_actions_plan(), color=False))


def test_plan_with_all_actions_renders_as_json():
    check_golden("plan_all_actions.json", render_plan_json(all_actions_plan()))


def test_plan_with_all_actions_renders_as_markdown():
    check_golden("plan_all_actions.md", render_plan_markdown(all_actions_plan()))


def test_plan_without_changes_renders_no_changes():
    plan = no_changes_plan()
    text = render_plan_human(plan, color=False) + "\n" + render_plan_markdown(plan)
    check_golden("plan_no_changes.txt", text)


def test_colored_plan_is_the_plain_plan_with_ansi_escapes():
    plan = all_actions_plan()
    colored = render_plan_human(plan, color=True)
    assert "\x1b[" in colored
    assert ANSI.sub("", colored) == render_plan_human(plan, color=False)
    assert "\x1b[" not in render_plan_human(plan, color=False)


@pytest.mark.parametrize("render", [
    lambda plan: render_plan_human(plan, color=False),
    lambda plan: render_plan_human(plan, color=True),
    render_plan_json,
    render_plan_markdown,
], ids=["human", "human-color", "json", "markdown"])
def test_no_view_shows_a_sensitive_digest(render):
    text = render(all_actions_plan())
    assert "sha256" not in text
    assert "${var.npm_token}" in text          # a sensitive variable is shown as a reference


def test_json_masks_unknown_and_sensitive_values():
    document = json.loads(render_plan_json(all_actions_plan()))
    by_address = {c["address"]: c["change"] for c in document["resource_changes"]}
    assert by_address["pipeline.new"]["after"]["id"] is None
    assert by_address["pipeline.new"]["after_unknown"] == {"id": True}
    assert by_address["pipeline.new"]["after"]["variables"]["NPM_TOKEN"] == {
        "deferred": "${var.npm_token}"}
    assert by_address["pipeline.app"]["after"]["variables"]["IMAGE_TAG"] == {
        "deferred": "${run.commit_short}"}
    assert by_address["webhook.push"]["actions"] == ["no-op"]
    assert by_address["schedule.nightly"]["actions"] == ["delete", "create"]
    assert document["summary"] == {"add": 2, "change": 1, "destroy": 2}


def test_markdown_fence_outgrows_backticks_in_values():
    plan = Plan(changes=(resource_change("pipeline.x", None, {"run": "echo ```"}),),
                state_lineage="l", state_serial=1, destroy=False,
                created_at="2024-05-01T12:00:00Z", config_dir=".")
    text = render_plan_markdown(plan)
    assert "````diff\n" in text and "\n````\n" in text


def test_plain_rendering_of_5000_changes_renders_every_change():
    template = all_actions_plan()
    changes = tuple(
        ResourceChange(address=f"{c.type}.r{i}", type=c.type, name=f"r{i}", provider=c.provider,
                       action=c.action, reason=c.reason, before=c.before, after=c.after,
                       attribute_changes=c.attribute_changes)
        for i in range(1000) for c in template.changes)
    plan = Plan(changes=changes, state_lineage="l", state_serial=1, destroy=False,
                created_at="2024-05-01T12:00:00Z", config_dir=".")
    text = render_plan_human(plan, color=False)
    assert text.count(" will be ") + text.count(" must be replaced") == 4000


SOURCES = {
    "main.hcl": (
        'pipeline "app" {\n'
        '  source = source.ap\n'
        '  stage "build" {\n'
        '\ttask "package" {\n'
        '\t\tcolour = "red"\n'
        '    }\n'
        '  }\n'
        '}\n'
    ),
}


def sample_diagnostics() -> list[Diagnostic]:
    return [
        Diagnostic.error("Reference to undeclared source",
                         'There is no source named "ap". Did you mean "app"?',
                         Range("main.hcl", 2, 12), address="pipeline.app"),
        Diagnostic.warning("Unsupported argument",
                           'An argument named "colour" is not expected here.',
                           Range("main.hcl", 5, 3)),
        Diagnostic.error("Missing state backend", range=Range("backend.hcl", 1, 1)),
        Diagnostic.error("No configuration files",
                         "The directory holds no *.hcl files.\nRun flowplan in a config directory."),
        Diagnostic.error("Invalid cron expression", range=Range("main.hcl", 40, 7),
                         address="schedule.nightly"),
    ]


def test_diagnostics_render_like_compiler_messages():
    text = render_diagnostics(sample_diagnostics(), SOURCES, color=False)
    check_golden("diagnostics.txt", text + summary_line(sample_diagnostics()) + "\n")


def test_colored_diagnostics_are_the_plain_ones_with_ansi_escapes():
    colored = render_diagnostics(sample_diagnostics(), SOURCES, color=True)
    assert "\x1b[" in colored
    assert ANSI.sub("", colored) == render_diagnostics(sample_diagnostics(), SOURCES, color=False)


@pytest.mark.parametrize("severities, expected", [
    ((), "no errors or warnings"),
    (("error",), "1 error"),
    (("warning", "warning"), "2 warnings"),
    (("error", "warning", "error"), "2 errors, 1 warning"),
])
def test_summary_line_counts_errors_and_warnings(severities, expected):
    items = [Diagnostic.error("e") if s == "error" else Diagnostic.warning("w")
             for s in severities]
    assert summary_line(items) == expected

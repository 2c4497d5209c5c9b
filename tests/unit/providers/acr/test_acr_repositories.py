"""acr_namespace and acr_repository through flowplan's engine against the Alibaba Cloud emulator,
for both editions (Personal: ROA 2016-06-07; Enterprise: RPC 2018-12-01 with an instance): create,
update in place, replace, delete, a refresh that sees an object deleted or changed outside
flowplan, import, and a create that meets an object made in the console."""

from __future__ import annotations

import re

import pytest

import aliyun_fixtures as fx
from flowplan import engine
from flowplan.diagnostics import DiagnosticsError
from inline import (actions_of, apply_all, change_of, inline_config, plan_of, render_text,
                    state_of)

from acr_fixtures import DOMAIN, EDITIONS, INSTANCE, config, load


def attributes(workspace, address="acr_repository.app"):
    return state_of(workspace).get(address).attributes


def squeezed(text):
    """The rendered plan with runs of spaces made one (the renderer aligns the `=`)."""
    return re.sub(r" +", " ", text)


def registry_of(instance):
    return DOMAIN          # the emulator reports it for both editions


def id_of(instance, path="team/app"):
    return f"{instance}:{path}" if instance else path


@EDITIONS
def test_apply_creates_the_namespace_and_repository_and_records_where_to_push(
        tmp_path, aliyun, provider, instance):
    workspace = load(tmp_path, aliyun, provider, instance,
                     repository='visibility = "public"\n  summary = "The app"\n'
                                "  tag_immutability = true")
    apply_all(workspace)

    real = aliyun.cr.repository("team", "app", instance)
    assert (real.repo_type, real.summary) == ("PUBLIC", "The app")
    assert real.tag_immutability is bool(instance), "Personal Edition has no tag immutability"
    recorded = attributes(workspace)
    assert recorded["id"] == id_of(instance)
    assert recorded["registry"] == registry_of(instance)
    assert recorded["repository_url"] == f"{registry_of(instance)}/team/app"
    assert recorded["instance_id"] == instance
    assert recorded["tag_immutability"] is True
    assert recorded["repo_id"] == (real.repo_id if instance else None)
    assert attributes(workspace, "acr_namespace.team")["id"] == id_of(instance, "team")
    assert actions_of(plan_of(workspace)) == {"acr_namespace.team": "no-op",
                                              "acr_repository.app": "no-op"}
    assert fx.SECRET_KEY not in workspace.backend.path.read_text()


@EDITIONS
def test_summary_visibility_and_description_are_updated_in_place(tmp_path, aliyun, provider,
                                                                  instance):
    apply_all(load(tmp_path, aliyun, provider, instance))
    before = aliyun.cr.repository("team", "app", instance)
    workspace = load(tmp_path, aliyun, provider, instance,
                     repository='visibility = "PUBLIC"\n  summary = "Renamed"\n'
                                '  description = "Built by pipeline.ci"')
    plan = plan_of(workspace)
    assert actions_of(plan)["acr_repository.app"] == "update"
    text = render_text(plan)
    assert '~ visibility = "PRIVATE" -> "PUBLIC"' in squeezed(text)
    assert "(update because visibility, summary, description changed)" in text
    assert "forces replacement" not in text
    apply_all(workspace)
    after = aliyun.cr.repository("team", "app", instance)
    assert (after.repo_type, after.summary, after.detail) == ("PUBLIC", "Renamed",
                                                               "Built by pipeline.ci")
    assert after.repo_id == before.repo_id, "an update keeps the repository"
    assert actions_of(plan_of(workspace))["acr_repository.app"] == "no-op"


def test_tag_immutability_is_updated_on_an_enterprise_repository(tmp_path, aliyun, provider):
    apply_all(load(tmp_path, aliyun, provider, INSTANCE))
    workspace = load(tmp_path, aliyun, provider, INSTANCE, repository="tag_immutability = true")
    assert actions_of(plan_of(workspace))["acr_repository.app"] == "update"
    apply_all(workspace)
    assert aliyun.cr.repository("team", "app", INSTANCE).tag_immutability is True


def test_lower_case_visibility_plans_no_change_against_what_the_api_spells(tmp_path, aliyun,
                                                                           provider):
    workspace = load(tmp_path, aliyun, provider, None, repository='visibility = "private"')
    apply_all(workspace)
    assert aliyun.cr.repository("team", "app").repo_type == "PRIVATE"
    assert attributes(workspace)["visibility"] == "private"
    assert actions_of(plan_of(workspace))["acr_repository.app"] == "no-op"


@EDITIONS
def test_a_new_name_replaces_the_repository(tmp_path, aliyun, provider, instance):
    apply_all(load(tmp_path, aliyun, provider, instance))
    workspace = load(tmp_path, aliyun, provider, instance, name="app-v2")
    plan = plan_of(workspace)
    change = change_of(plan, "acr_repository.app")
    assert change.action.value == "replace" and "name" in change.reason
    assert 'name = "app" -> "app-v2" # forces replacement' in squeezed(render_text(plan))
    apply_all(workspace)
    assert aliyun.cr.repository("team", "app", instance) is None
    assert aliyun.cr.repository("team", "app-v2", instance) is not None
    assert attributes(workspace)["repository_url"] == f"{registry_of(instance)}/team/app-v2"


def test_a_new_namespace_replaces_both_and_the_plan_says_why(tmp_path, aliyun, provider):
    apply_all(load(tmp_path, aliyun, provider, INSTANCE))
    plan = plan_of(load(tmp_path, aliyun, provider, INSTANCE, namespace="platform"))
    assert actions_of(plan) == {"acr_namespace.team": "replace",
                                "acr_repository.app": "replace"}
    assert "namespace" in change_of(plan, "acr_repository.app").reason


def test_moving_to_an_enterprise_instance_replaces(tmp_path, aliyun, provider):
    apply_all(load(tmp_path, aliyun, provider, None))
    plan = plan_of(load(tmp_path, aliyun, provider, INSTANCE))
    assert change_of(plan, "acr_repository.app").action.value == "replace"
    assert "instance_id" in change_of(plan, "acr_repository.app").reason


@EDITIONS
def test_destroy_deletes_the_repository_and_the_namespace(tmp_path, aliyun, provider, instance):
    workspace = load(tmp_path, aliyun, provider, instance)
    apply_all(workspace)
    apply_all(workspace, destroy=True)
    assert aliyun.cr.repository("team", "app", instance) is None
    assert aliyun.cr.namespace("team", instance) is None
    assert "acr_repository.app" not in state_of(workspace)


@EDITIONS
def test_a_repository_deleted_outside_flowplan_is_created_again(tmp_path, aliyun, provider,
                                                                instance):
    workspace = load(tmp_path, aliyun, provider, instance)
    apply_all(workspace)
    aliyun.cr.delete_repository("team", "app", instance)
    assert actions_of(plan_of(workspace)) == {"acr_namespace.team": "no-op",
                                              "acr_repository.app": "create"}
    apply_all(workspace)
    assert aliyun.cr.repository("team", "app", instance) is not None


@EDITIONS
def test_a_namespace_deleted_outside_flowplan_is_created_again_with_its_repository(
        tmp_path, aliyun, provider, instance):
    workspace = load(tmp_path, aliyun, provider, instance)
    apply_all(workspace)
    aliyun.cr.delete_namespace("team", instance)
    assert actions_of(plan_of(workspace)) == {"acr_namespace.team": "create",
                                              "acr_repository.app": "create"}
    apply_all(workspace)
    assert aliyun.cr.repository("team", "app", instance) is not None


def test_a_summary_changed_in_the_console_is_drift_put_back(tmp_path, aliyun, provider):
    workspace = load(tmp_path, aliyun, provider, INSTANCE)
    apply_all(workspace)
    aliyun.cr.repository("team", "app", INSTANCE).summary = "edited by hand"
    change = change_of(plan_of(workspace), "acr_repository.app")
    assert change.action.value == "update" and change.before["summary"] == "edited by hand"
    apply_all(workspace)
    assert aliyun.cr.repository("team", "app", INSTANCE).summary == "Managed by flowplan"


@EDITIONS
def test_a_repository_made_in_the_console_fails_create_with_the_import_command(
        tmp_path, aliyun, provider, instance):
    aliyun.cr.add_repository("team", "app", instance, summary="by hand")
    applied = apply_all(load(tmp_path, aliyun, provider, instance, with_namespace=False),
                        ok=False)
    text = str(applied.result.diagnostics)
    assert "REPO_NAME_EXIST" in text
    assert f"flowplan import acr_repository.app {id_of(instance)}" in text
    assert aliyun.cr.repository("team", "app", instance).summary == "by hand"


def test_a_namespace_made_in_the_console_fails_create_with_the_import_command(tmp_path, aliyun,
                                                                              provider):
    aliyun.cr.add_namespace("team", INSTANCE)
    applied = apply_all(load(tmp_path, aliyun, provider, INSTANCE), ok=False)
    text = str(applied.result.diagnostics)
    assert "NAMESPACE_NAME_EXIST" in text
    assert f"flowplan import acr_namespace.team {INSTANCE}:team" in text


def test_a_repository_in_a_missing_namespace_says_to_declare_it(tmp_path, aliyun, provider):
    applied = apply_all(load(tmp_path, aliyun, provider, None, with_namespace=False), ok=False)
    text = str(applied.result.diagnostics)
    assert "NAMESPACE_NOT_EXIST" in text and "acr_namespace" in text


@EDITIONS
def test_import_adopts_a_console_repository_and_the_next_plan_shows_only_real_differences(
        tmp_path, aliyun, provider, instance):
    aliyun.cr.add_repository("team", "app", instance, summary="Managed by flowplan",
                             repo_type="PUBLIC")
    workspace = load(tmp_path, aliyun, provider, instance, with_namespace=False)
    imported = engine.import_resource(workspace, "acr_repository.app", id_of(instance))
    assert imported.attributes["id"] == id_of(instance)
    assert imported.attributes["repository_url"] == f"{registry_of(instance)}/team/app"

    change = change_of(plan_of(workspace), "acr_repository.app")
    assert change.action.value == "update"
    assert [c.path for c in change.attribute_changes] == ["visibility"]
    apply_all(workspace)
    assert aliyun.cr.repository("team", "app", instance).repo_type == "PRIVATE"
    assert actions_of(plan_of(workspace))["acr_repository.app"] == "no-op"


@EDITIONS
def test_import_adopts_a_console_namespace(tmp_path, aliyun, provider, instance):
    aliyun.cr.add_namespace("team", instance)
    aliyun.cr.add_repository("team", "app", instance, summary="Managed by flowplan")
    workspace = load(tmp_path, aliyun, provider, instance)
    engine.import_resource(workspace, "acr_namespace.team", id_of(instance, "team"))
    engine.import_resource(workspace, "acr_repository.app", id_of(instance))
    assert actions_of(plan_of(workspace)) == {"acr_namespace.team": "no-op",
                                              "acr_repository.app": "no-op"}


def test_import_refuses_malformed_ids_before_any_request(tmp_path, aliyun, provider):
    workspace = load(tmp_path, aliyun, provider, None, with_namespace=False)
    for hostile in ("team", "team/app/x", "../app", "team/../x", "TEAM/app", "cri-x:",
                    "evil:team/app", "team/app?x=1", "team/a%2Fb", "cri-1:team/app:2"):
        with pytest.raises(DiagnosticsError) as raised:
            engine.import_resource(workspace, "acr_repository.app", hostile)
        text = str(raised.value.diagnostics)
        assert "NAMESPACE/NAME" in text, hostile
    assert aliyun.requests == []


def test_import_of_a_missing_repository_writes_nothing(tmp_path, aliyun, provider):
    workspace = load(tmp_path, aliyun, provider, INSTANCE, with_namespace=False)
    with pytest.raises(DiagnosticsError) as raised:
        engine.import_resource(workspace, "acr_repository.app", f"{INSTANCE}:team/app")
    assert f"no repository {INSTANCE}:team/app" in str(raised.value.diagnostics)
    assert "acr_repository.app" not in state_of(workspace)


def test_an_unknown_instance_is_a_clear_error(tmp_path, aliyun, provider):
    applied = apply_all(load(tmp_path, aliyun, provider, "cri-nosuchinstance"), ok=False)
    text = str(applied.result.diagnostics)
    assert "INSTANCE_NOT_EXIST" in text and "cri-nosuchinstance:team" in text


def test_names_that_could_steer_a_request_path_are_refused_offline(tmp_path, aliyun, provider):
    for field, hostile in (("name", "app/../../namespace"), ("name", "App"),
                           ("namespace", "team/x"), ("name", "a?b=c"), ("name", "-app")):
        options = {"name": hostile} if field == "name" else {"namespace": hostile}
        with pytest.raises(DiagnosticsError) as raised:
            workspace = load(tmp_path, aliyun, provider, None, **options)
            plan_of(workspace)
        assert f"Invalid `{field}`" in str(raised.value.diagnostics), hostile
    assert aliyun.requests == []


def test_personal_edition_tag_immutability_is_a_plan_warning(tmp_path, aliyun, provider):
    events: list = []
    plan_of(load(tmp_path, aliyun, provider, None, repository="tag_immutability = true"),
            events=events)
    assert any("does not enforce tag immutability" in str(vars(e)) for e in events)


def test_a_wrong_secret_stops_the_plan_and_no_key_is_shown(tmp_path, aliyun, provider):
    workspace = load(tmp_path, aliyun, provider, INSTANCE)
    apply_all(workspace)
    workspace = load(tmp_path, aliyun, provider, INSTANCE, secret="the-wrong-secret-8812")
    with pytest.raises(DiagnosticsError) as raised:
        plan_of(workspace)
    text = "\n".join(f"{d.summary}: {d.detail}" for d in raised.value.diagnostics)
    assert "refused the credentials" in text and "secret_key" in text
    for secret in (fx.SECRET_KEY, "the-wrong-secret-8812", fx.ACCESS_KEY):
        assert secret not in text


def test_a_key_written_into_the_config_is_refused_once_at_its_line(tmp_path, aliyun, provider):
    text = config(aliyun.endpoint, None).replace("secret_key = var.alicloud_secret_key",
                                                 'secret_key = "written-into-the-file"')
    workspace = inline_config(tmp_path, text, fx.keys(), providers={"alicloud": provider})
    line = 1 + text.splitlines().index('  secret_key = "written-into-the-file"')
    with pytest.raises(DiagnosticsError) as raised:
        plan_of(workspace)
    problems = [d for d in raised.value.diagnostics if "written into" in d.summary]
    assert len(problems) == 1 and problems[0].range.line == line
    assert "written-into-the-file" not in str(raised.value.diagnostics)
    assert aliyun.requests == []


def test_without_a_provider_block_apply_says_what_is_missing(tmp_path, aliyun, provider):
    text = config(aliyun.endpoint, None).split('provider "alicloud"')[1].split("}", 1)[1]
    workspace = inline_config(tmp_path, text, {}, providers={"alicloud": provider})
    applied = apply_all(workspace, ok=False)
    assert 'no provider "alicloud" block' in str(applied.result.diagnostics)


def test_a_registry_host_unread_at_create_is_recorded_with_a_warning_and_read_next_time(
        tmp_path, aliyun, provider):
    aliyun.fail(times=3, action="ListInstanceEndpoint", status=503)
    workspace = load(tmp_path, aliyun, provider, INSTANCE)
    applied = apply_all(workspace)
    assert any("has no registry host yet" in line for line in applied.progress) or \
        any("has no registry host yet" in str(vars(e)) for e in applied.events)
    assert attributes(workspace)["registry"] is None
    assert aliyun.cr.repository("team", "app", INSTANCE) is not None
    assert actions_of(plan_of(workspace))["acr_repository.app"] == "update"
    apply_all(workspace)
    assert attributes(workspace)["repository_url"] == f"{DOMAIN}/team/app"
    assert actions_of(plan_of(workspace))["acr_repository.app"] == "no-op"

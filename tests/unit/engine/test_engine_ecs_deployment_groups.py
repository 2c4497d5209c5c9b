"""Deployment groups with an `ecs {}` block, through the engine in-process against the ECS
emulator: apply resolves, tags and records the instances; refresh shows instances that disappeared
or appeared as a change in the plan; destroy untags; the `provider "alicloud"` block's mistakes are
located diagnostics; refused credentials are one clear error after one request."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import aliyun_fixtures as fx
from flowplan.diagnostics import DiagnosticsError
from flowplan.events import ProviderWarning
from cli_workspace import check_golden
from inline import (actions_of, apply_all, change_of, destroy_all, inline_config, plan_of,
                    render_markdown, render_problems, render_text, state_of)

BY_IDS = """
deployment_group "daily" {
  environment = "daily"
  ecs {
    instance_ids = ["i-web1", "i-web2"]
  }
}
"""

BY_TAGS = """
deployment_group "web" {
  environment = "production"
  ecs {
    tags = { app = "web" }
  }
}
"""

TAG = "flowplan:deployment-group:"         # + the group's name


@pytest.fixture
def ecs(tmp_path):
    with fx.emulator(tmp_path / "instances") as emulator:
        yield emulator


def load(directory, ecs, groups: str, *, secret: str = fx.SECRET_KEY, providers=None,
         block: str | None = None):
    return inline_config(directory, (block or fx.provider_block(ecs.endpoint)) + groups,
                         variables=fx.keys(secret), providers=providers)


def instances_of(workspace, address: str) -> dict:
    return state_of(workspace).get(address).attributes["ecs_instances"]


def test_apply_resolves_tags_and_records_instances_named_by_id(tmp_path, ecs):
    workspace = load(tmp_path, ecs, BY_IDS)
    plan = plan_of(workspace)
    assert "+ ecs_instances = (known after apply)" in render_text(plan)
    apply_all(workspace)
    assert instances_of(workspace, "deployment_group.daily") == {
        "i-web1": {"region": "cn-hangzhou", "private_ip": "10.0.0.5", "status": "Running",
                   "cloud_assistant": True, "tagged": True},
        "i-web2": {"region": "cn-hangzhou", "private_ip": "10.0.0.6", "status": "Running",
                   "cloud_assistant": True, "tagged": True},
    }
    assert ecs.instances["i-web1"].tags == {"app": "web", TAG + "daily": "daily"}
    assert ecs.instances["i-db1"].tags == {"app": "db"}
    again = plan_of(workspace)
    assert change_of(again, "deployment_group.daily").action.value == "no-op"


def test_a_tag_group_takes_the_regions_instances_carrying_the_tags(tmp_path, ecs):
    workspace = load(tmp_path, ecs, BY_TAGS)
    apply_all(workspace)
    assert sorted(instances_of(workspace, "deployment_group.web")) == ["i-web1", "i-web2"]
    assert ecs.instances["i-web1"].tags[TAG + "web"] == "web"
    assert ecs.instances["i-far"].tags == {"app": "web"}    # same tags, another region


def test_refresh_shows_an_instance_that_disappeared_and_one_that_appeared(tmp_path, ecs):
    workspace = load(tmp_path, ecs, BY_TAGS)
    apply_all(workspace)
    ecs.remove_instance("i-web2")
    ecs.add_instance(fx.Instance("i-web3", fx.REGION, "10.0.0.7", {"app": "web"}))
    workspace = load(tmp_path, ecs, BY_TAGS, providers=workspace)
    events: list = []
    plan = plan_of(workspace, events)
    change = change_of(plan, "deployment_group.web")
    assert change.reason == "update because ecs_instances changed"
    # the plan's warning reaches the person, though a plan that succeeds has no diagnostics
    assert [(e.address, e.summary) for e in events if isinstance(e, ProviderWarning)] == [
        ("deployment_group.web", "ECS instance no longer exists")]
    text = render_text(plan)
    assert "~ ecs_instances.i-web3.tagged = false -> true" in text
    assert "- ecs_instances.i-web2" in text and 'status          = "NotFound"' in text
    apply_all(workspace)
    assert sorted(instances_of(workspace, "deployment_group.web")) == ["i-web1", "i-web3"]
    assert ecs.instances["i-web3"].tags[TAG + "web"] == "web"
    assert change_of(plan_of(workspace), "deployment_group.web").action.value == "no-op"


def test_the_plan_of_instances_changed_outside_flowplan_renders_as_golden(tmp_path, ecs):
    workspace = load(tmp_path, ecs, BY_IDS + BY_TAGS)
    apply_all(workspace)
    ecs.remove_instance("i-web2")
    ecs.add_instance(fx.Instance("i-web3", fx.REGION, "10.0.0.7", {"app": "web"}))
    ecs.instances["i-web1"].tags.pop(TAG + "web")     # someone removed a group's tag
    workspace = load(tmp_path, ecs, BY_IDS + BY_TAGS, providers=workspace)
    plan = plan_of(workspace)
    check_golden("engine_plan_ecs_drift.txt", render_text(plan) + "\n")
    check_golden("engine_plan_ecs_drift.md", render_markdown(plan) + "\n")


def test_a_named_instance_that_disappeared_is_shown_then_fails_the_apply_clearly(tmp_path, ecs):
    workspace = load(tmp_path, ecs, BY_IDS)
    apply_all(workspace)
    ecs.remove_instance("i-web2")
    workspace = load(tmp_path, ecs, BY_IDS, providers=workspace)
    plan = plan_of(workspace)
    assert "- ecs_instances.i-web2" in render_text(plan)
    applied = apply_all(workspace, ok=False)
    problems = render_problems(applied.result.diagnostics)
    assert "Cannot resolve the ECS instances of deployment_group.daily" in problems
    assert "no ECS instance i-web2 in cn-hangzhou" in problems
    assert "Traceback" not in problems


def test_changing_the_ecs_block_resolves_again_and_untags_instances_that_left(tmp_path, ecs):
    workspace = load(tmp_path, ecs, BY_IDS)
    apply_all(workspace)
    workspace = load(tmp_path, ecs, BY_IDS.replace('"i-web1", "i-web2"', '"i-web1", "i-db1"'),
                     providers=workspace)
    plan = plan_of(workspace)
    assert change_of(plan, "deployment_group.daily").reason == \
        "update because ecs, ecs_instances changed"
    assert "} -> (known after apply)" in render_text(plan)
    apply_all(workspace)
    assert sorted(instances_of(workspace, "deployment_group.daily")) == ["i-db1", "i-web1"]
    assert ecs.instances["i-web2"].tags == {"app": "web"}
    assert ecs.instances["i-db1"].tags[TAG + "daily"] == "daily"


def test_an_instance_may_belong_to_several_groups(tmp_path, ecs):
    workspace = load(tmp_path, ecs, BY_IDS + BY_TAGS)
    apply_all(workspace)
    assert ecs.instances["i-web1"].tags == {"app": "web", TAG + "daily": "daily",
                                           TAG + "web": "web"}
    assert set(actions_of(plan_of(workspace)).values()) == {"no-op"}


def test_destroy_removes_the_group_tag_from_its_instances(tmp_path, ecs):
    workspace = load(tmp_path, ecs, BY_IDS + BY_TAGS)
    apply_all(workspace)
    destroy_all(workspace)
    assert all(not any(k.startswith(TAG) for k in i.tags) for i in ecs.instances.values())
    assert state_of(workspace).get("deployment_group.daily") is None


def test_an_unknown_instance_id_fails_the_apply_with_one_clear_error(tmp_path, ecs):
    workspace = load(tmp_path, ecs, BY_IDS.replace('"i-web2"', '"i-nope"'))
    applied = apply_all(workspace, ok=False)
    assert applied.result.failed == ["deployment_group.daily"]
    problems = render_problems(applied.result.diagnostics)
    assert "no ECS instance i-nope in cn-hangzhou" in problems
    assert ecs.count("TagResources") == 0
    assert state_of(workspace).get("deployment_group.daily") is None


def test_wrong_credentials_are_one_clear_error_and_one_request(tmp_path, ecs):
    workspace = load(tmp_path, ecs, BY_IDS, secret="not-the-secret")
    applied = apply_all(workspace, ok=False)
    problems = render_problems(applied.result.diagnostics)
    assert ('Alibaba Cloud refused the credentials of the provider "alicloud" block: '
            "secret_key is not the secret of access_key") in problems
    assert "not-the-secret" not in problems
    assert ecs.count() == 1


def test_wrong_credentials_at_refresh_stop_the_plan_with_one_error(tmp_path, ecs):
    workspace = load(tmp_path, ecs, BY_IDS)
    apply_all(workspace)
    before = ecs.count()
    workspace = load(tmp_path, ecs, BY_IDS, secret="rotated-wrongly", providers=workspace)
    with pytest.raises(DiagnosticsError) as caught:
        plan_of(workspace)
    problems = render_problems(caught.value.diagnostics)
    assert "Cannot refresh the ECS instances of deployment_group.daily" in problems
    assert problems.count("refused the credentials") == 1
    assert ecs.count() - before == 1


def test_keys_written_into_the_config_are_refused_at_their_line(tmp_path, ecs):
    block = fx.provider_block(ecs.endpoint, secret_key='"written-in-the-file"')
    workspace = load(tmp_path, ecs, BY_IDS, block=block)
    with pytest.raises(DiagnosticsError) as caught:
        plan_of(workspace)
    problems = render_problems(caught.value.diagnostics, workspace.config.texts)
    line = next(n for n, text in enumerate(block.splitlines(), 1) if "secret_key =" in text)
    assert f"main.hcl:{line}:" in problems
    assert "`secret_key` is written into the config" in problems
    assert all("written-in-the-file" not in d.detail for d in caught.value.diagnostics)
    assert ecs.count() == 0


def test_keys_read_from_the_environment_are_accepted(tmp_path, ecs):
    block = fx.provider_block(ecs.endpoint, access_key='env("AK")', secret_key='env("SK")')
    workspace = inline_config(tmp_path, block + BY_IDS, environ={
        "AK": fx.ACCESS_KEY, "SK": fx.SECRET_KEY})
    apply_all(workspace)
    assert sorted(instances_of(workspace, "deployment_group.daily")) == ["i-web1", "i-web2"]


def test_an_ecs_block_without_a_provider_block_is_an_error_at_the_block(tmp_path, ecs):
    workspace = inline_config(tmp_path, BY_IDS)
    with pytest.raises(DiagnosticsError) as caught:
        plan_of(workspace)
    problems = render_problems(caught.value.diagnostics, workspace.config.texts)
    assert "Cannot reach the ECS instances" in problems
    assert 'needs a provider "alicloud" block' in problems
    assert "main.hcl:3:3:" in problems                  # the ecs block


def test_an_empty_ecs_block_is_refused_offline(tmp_path, ecs):
    workspace = load(tmp_path, ecs, BY_IDS.replace('instance_ids = ["i-web1", "i-web2"]', ""))
    with pytest.raises(DiagnosticsError, match="Empty `ecs` block"):
        plan_of(workspace)
    assert ecs.count() == 0


def test_groups_without_ecs_never_import_the_alicloud_sdk(tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "main.hcl").write_text(textwrap.dedent("""\
        provider "alicloud" {
          region = "cn-hangzhou"
        }
        deployment_group "ssh" {
          environment = "daily"
          host "web1" {
            address = "127.0.0.1"
          }
        }
        """))
    script = textwrap.dedent(f"""\
        import sys
        from flowplan import engine
        from flowplan.plan.planner import PlanOptions
        workspace = engine.load({str(config)!r})
        engine.plan(workspace, PlanOptions())
        print(sorted(m for m in sys.modules if m.startswith(("aliyunsdk",
                                                             "flowplan_providers.alicloud"))))
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().replace("'", '"')) == [
        "flowplan_providers.alicloud", "flowplan_providers.alicloud.provider",
        "flowplan_providers.alicloud.schema", "flowplan_providers.alicloud.settings"], \
        "the alicloud provider is installed (its schema is read), but no SDK is imported"


def test_an_instance_whose_agent_is_offline_is_recorded_so(tmp_path, ecs):
    ecs.instances["i-web2"].cloud_assistant = False
    workspace = load(tmp_path, ecs, BY_IDS)
    applied = apply_all(workspace)
    warnings = [e for e in applied.events if isinstance(e, ProviderWarning)]
    assert [(w.address, w.summary) for w in warnings] == [("deployment_group.daily",
                                                          "ECS instance")]
    assert "i-web2" in warnings[0].detail
    recorded = instances_of(workspace, "deployment_group.daily")
    assert (recorded["i-web1"]["cloud_assistant"], recorded["i-web2"]["cloud_assistant"]) == \
        (True, False)


def test_a_malformed_region_or_endpoint_is_reported_at_its_line(tmp_path, ecs):
    block = fx.provider_block("ftp://somewhere/x").replace('"cn-hangzhou"', '"Hangzhou"')
    workspace = load(tmp_path, ecs, BY_IDS, block=block)
    with pytest.raises(DiagnosticsError) as caught:
        plan_of(workspace)
    found = {(d.summary, d.range.line) for d in caught.value.diagnostics}
    lines = {name: n for n, text in enumerate(block.splitlines(), 1)
             for name in ("region", "endpoint") if text.strip().startswith(name)}
    assert found == {("Invalid `region`", lines["region"]),
                     ("Invalid `endpoint`", lines["endpoint"])}

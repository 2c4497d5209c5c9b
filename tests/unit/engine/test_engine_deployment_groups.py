"""Deployment groups through plan and apply, in-process, with real sshd hosts on 127.0.0.1: host
keys pinned at apply, a changed key as drift that replaces the group, `--replace` re-pinning,
unreachable hosts, and private keys kept out of the state and the store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from flowplan.diagnostics import DiagnosticsError
from flowplan.events import RefreshWarning
from flowplan_providers.flowplan import FlowplanProvider
from inline import (apply_all, change_of, inline_config, plan_of, render_problems, render_text,
                    state_of)
from sshd import free_port, silent_server

ADDRESS = "deployment_group.daily"


@pytest.fixture(autouse=True)
def _short_timeouts(monkeypatch):
    monkeypatch.setattr(FlowplanProvider, "connect_timeout", 3.0)


def host_block(host, name=None, **extra) -> str:
    lines = [f'  host "{name or host.name}" {{',
             '    address  = "127.0.0.1"',
             f"    port     = {extra.pop('port', host.port)}",
             f'    user     = "{host.user}"',
             f'    key_file = "{host.client_key}"']
    lines += [f"    {key} = {value}" for key, value in extra.items()]
    return "\n".join(lines + ["  }"])


def group(*hosts: str, description: str = "") -> str:
    return ('deployment_group "daily" {\n  environment = "daily"\n'
            + (f'  description = "{description}"\n' if description else "")
            + "\n".join(hosts) + "\n}\n")


def state_keys(workspace) -> dict:
    return state_of(workspace).get(ADDRESS).attributes["host_keys"]


def store_definition(workspace) -> dict:
    with sqlite3.connect(workspace.directory / ".flowplan" / "flowplan.db") as db:
        (definition,) = db.execute("select definition from deployment_groups").fetchone()
    return json.loads(definition)


def store_text(workspace) -> str:
    with sqlite3.connect(workspace.directory / ".flowplan" / "flowplan.db") as db:
        tables = [row[0] for row in db.execute("select name from sqlite_master "
                                               "where type = 'table'")]
        return "\n".join(str(row) for table in tables
                         for row in db.execute(f'select * from "{table}"'))


def where(diagnostic) -> str:
    """file:line:column with the file's name only."""
    return f"{Path(diagnostic.range.file).name}:{diagnostic.range.line}:{diagnostic.range.column}"


def warnings_in(events) -> list[RefreshWarning]:
    return [event for event in events if isinstance(event, RefreshWarning)]


# -- pinning ----------------------------------------------------------------------------------------

def test_apply_pins_each_ssh_host_key_in_the_state_and_the_store(tmp_path, ssh_hosts):
    web0, web1, _ = ssh_hosts
    config = group(host_block(web0), host_block(web1),
                   '  host "here" {\n    connection = "local"\n  }')
    workspace = inline_config(tmp_path, config)
    plan = plan_of(workspace)
    assert (f"      + host_keys   = {{ {web0.name} = (known after apply), {web1.name} = (known "
            "after apply) }") in render_text(plan)
    apply_all(workspace)
    expected = {web0.name: web0.host_key, web1.name: web1.host_key}
    assert state_keys(workspace) == expected
    assert store_definition(workspace)["host_keys"] == expected
    again = plan_of(inline_config(tmp_path, config, providers=workspace))
    assert not again.has_changes


def test_a_host_added_later_learns_its_key_and_the_others_keep_theirs(tmp_path, ssh_hosts):
    web0, web1, _ = ssh_hosts
    workspace = inline_config(tmp_path, group(host_block(web0)))
    apply_all(workspace)
    workspace = inline_config(tmp_path, group(host_block(web0), host_block(web1)),
                              providers=workspace)
    plan = plan_of(workspace)
    assert change_of(plan, ADDRESS).action.value == "update"
    assert plan.changes[0].after["host_keys"] == {
        web0.name: web0.host_key, web1.name: {"$unknown": "known after apply"}}
    apply_all(workspace)
    assert state_keys(workspace) == {web0.name: web0.host_key, web1.name: web1.host_key}


def test_a_host_moved_to_another_port_learns_its_key_again(tmp_path, ssh_hosts):
    web0, web1, _ = ssh_hosts
    workspace = inline_config(tmp_path, group(host_block(web0, name="app")))
    apply_all(workspace)
    workspace = inline_config(tmp_path, group(host_block(web1, name="app")), providers=workspace)
    apply_all(workspace)
    assert state_keys(workspace) == {"app": web1.host_key}


# -- a changed key ----------------------------------------------------------------------------------

def test_a_changed_host_key_is_drift_that_plans_a_replacement(tmp_path, ssh_hosts, fresh_host):
    config = group(host_block(ssh_hosts[0]), host_block(fresh_host))
    workspace = inline_config(tmp_path, config)
    apply_all(workspace)
    pinned = fresh_host.host_key
    presented = fresh_host.replace_host_key()

    events: list = []
    plan = plan_of(workspace, events=events)
    change = change_of(plan, ADDRESS)
    assert (change.action.value, change.reason) == (
        "replace", f"replace because host_keys.{fresh_host.name} changed")
    changes = [line.strip() for line in render_text(plan).splitlines() if " -> " in line]
    key = f"host_keys.{fresh_host.name}"       # web2 or web10: names align the column
    assert changes == [
        f'~ {key} = "{pinned}" -> (known after apply) # forces replacement',
        f'~ {"id".ljust(len(key))} = "1" -> (known after apply)']
    [warning] = warnings_in(events)
    assert (warning.address, warning.summary) == (ADDRESS,
                                                  f"Host key of {fresh_host.name} changed")
    assert f"presents {presented}, but {pinned} is pinned" in warning.detail
    assert "flowplan apply --replace deployment_group.daily" in warning.detail

    apply_all(workspace)
    assert state_keys(workspace) == {ssh_hosts[0].name: ssh_hosts[0].host_key,
                                     fresh_host.name: presented}
    assert not plan_of(workspace).has_changes


def test_without_a_refresh_a_changed_key_fails_the_apply_until_replace_repins_it(
        tmp_path, fresh_host):
    workspace = inline_config(tmp_path, group(host_block(fresh_host)))
    apply_all(workspace)
    presented = fresh_host.replace_host_key()

    workspace = inline_config(tmp_path, group(host_block(fresh_host), description="moved"),
                              providers=workspace)
    failed = apply_all(workspace, refresh=False, ok=False)
    problems = render_problems(failed.result.diagnostics, workspace.config.texts)
    assert f"Host key of {fresh_host.name} changed" in problems
    assert f"presented {presented}" in problems
    assert state_of(workspace).get(ADDRESS).attributes["description"] == ""

    replaced = apply_all(workspace, refresh=False, replace=(ADDRESS,))
    assert change_of(replaced.plan, ADDRESS).reason == "replace as requested"
    assert state_keys(workspace) == {fresh_host.name: presented}
    assert store_definition(workspace)["host_keys"] == {fresh_host.name: presented}


# -- unreachable hosts ------------------------------------------------------------------------------

def test_apply_fails_the_group_naming_each_unreachable_host(tmp_path, ssh_hosts):
    closed = [free_port(), free_port()]
    config = group(host_block(ssh_hosts[0]),
                   host_block(ssh_hosts[1], name="gone1", port=closed[0]),
                   host_block(ssh_hosts[2], name="gone2", port=closed[1]))
    workspace = inline_config(tmp_path, config)
    failed = apply_all(workspace, ok=False)
    assert failed.result.failed == [ADDRESS]
    problems = render_problems(failed.result.diagnostics, workspace.config.texts)
    assert f"Host gone1 is unreachable: gone1 (127.0.0.1:{closed[0]}): connection refused" \
        in problems
    assert f"Host gone2 is unreachable: gone2 (127.0.0.1:{closed[1]}): connection refused" \
        in problems
    assert ssh_hosts[0].name + " is unreachable" not in problems
    assert state_of(workspace).get(ADDRESS) is None
    assert "daily" not in store_text(workspace)


def test_a_host_that_never_answers_fails_the_apply_after_the_timeout(tmp_path, ssh_hosts):
    with silent_server() as port:
        workspace = inline_config(tmp_path, group(host_block(ssh_hosts[0], name="hung",
                                                            port=port)))
        failed = apply_all(workspace, ok=False)
    problems = render_problems(failed.result.diagnostics, workspace.config.texts)
    assert f"Host hung is unreachable: hung (127.0.0.1:{port}): no SSH answer within 3 s" \
        in problems


def test_refresh_of_a_host_that_stopped_answering_warns_and_changes_nothing(tmp_path,
                                                                           fresh_host):
    workspace = inline_config(tmp_path, group(host_block(fresh_host)))
    apply_all(workspace)
    fresh_host.stop()
    events: list = []
    plan = plan_of(workspace, events=events)
    assert not plan.has_changes
    [warning] = warnings_in(events)
    assert warning.summary == f"Host {fresh_host.name} of {ADDRESS} did not answer"
    assert "connection refused" in warning.detail
    assert "the state keeps what the last apply recorded" in warning.detail


def test_a_local_host_whose_user_does_not_exist_fails_the_apply(tmp_path):
    workspace = inline_config(tmp_path, group(
        '  host "here" {\n    connection = "local"\n    user = "no-such-user-here"\n  }'))
    failed = apply_all(workspace, ok=False)
    problems = render_problems(failed.result.diagnostics, workspace.config.texts)
    assert "User no-such-user-here does not exist on here" in problems


# -- private keys -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ['"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3Blbn\\n"',
                                   'file("deploy_key")'])
def test_a_private_key_given_in_clear_is_refused_pointing_at_key_file(tmp_path, ssh_hosts,
                                                                      value):
    (tmp_path / "deploy_key").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n")
    config = ('deployment_group "daily" {\n  environment = "daily"\n  host "web" {\n'
              '    address     = "127.0.0.1"\n'
              f"    private_key = {value}\n  }}\n}}\n")
    workspace = inline_config(tmp_path, config)
    with pytest.raises(DiagnosticsError) as refused:
        plan_of(workspace)
    [problem] = [d for d in refused.value.diagnostics if d.severity.value == "error"]
    assert (where(problem), problem.summary) == (
        "main.hcl:5:5", "`private_key` must be a sensitive value")
    assert 'Use key_file = "PATH" instead' in problem.detail
    assert not (tmp_path / ".flowplan" / "state.json").exists()


def test_a_private_key_from_a_sensitive_variable_logs_in_and_is_never_stored(tmp_path,
                                                                            ssh_hosts):
    web = ssh_hosts[0]
    key_text = web.client_key.read_text()
    config = ('variable "deploy_key" {\n  type = string\n  sensitive = true\n}\n'
              + group(f'  host "web" {{\n    address = "127.0.0.1"\n    port = {web.port}\n'
                      f'    user = "{web.user}"\n    private_key = var.deploy_key\n  }}'))
    workspace = inline_config(tmp_path, config, variables={"deploy_key": key_text})
    apply_all(workspace)
    assert state_keys(workspace) == {"web": web.host_key}
    body = key_text.splitlines()[1]
    state_text = (tmp_path / ".flowplan" / "state.json").read_text()
    assert body not in state_text and body not in store_text(workspace)
    assert "$sensitive" in json.dumps(store_definition(workspace)["host"]["web"]["private_key"])


def test_key_file_is_read_when_connecting_and_only_its_path_is_stored(tmp_path, ssh_hosts):
    web = ssh_hosts[0]
    workspace = inline_config(tmp_path, group(host_block(web)))
    apply_all(workspace)
    body = web.client_key.read_text().splitlines()[1]
    state_text = (tmp_path / ".flowplan" / "state.json").read_text()
    assert str(web.client_key) in state_text
    assert body not in state_text and body not in store_text(workspace)


# -- mistakes in host blocks ------------------------------------------------------------------------

def test_host_block_mistakes_are_located_diagnostics(tmp_path):
    config = ('deployment_group "daily" {\n'
              '  environment = "daily"\n'
              '  host "nowhere" {\n'
              '    user = "deploy"\n'
              '  }\n'
              '  host "here" {\n'
              '    connection = "local"\n'
              '    key_file   = "keys/deploy"\n'
              '    vars       = { "APP-PORT" = "8080" }\n'
              '  }\n'
              '}\n')
    workspace = inline_config(tmp_path, config)
    with pytest.raises(DiagnosticsError) as refused:
        plan_of(workspace)
    located = sorted((where(d), d.summary) for d in refused.value.diagnostics)
    assert located == [
        ("main.hcl:3:3", "Missing `address`"),
        ("main.hcl:8:5", '`key_file` is not used with connection = "local"'),
        ("main.hcl:9:5", "Invalid name in `vars`"),
    ]

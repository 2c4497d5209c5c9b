"""How host_deploy reaches hosts beyond key files: ECS instances through Cloud Assistant (the ECS
emulator, the artifact fetched from `artifact_url`), and SSH hosts whose private key comes from a
sensitive variable; no key or secret reaches the log, the records or the store."""

from __future__ import annotations

import sqlite3

import aliyun_fixtures as fx
from flowplan import engine
from deploy_support import (Status, applied, current_of, deploy_config, deploy_dir, deploy_log,
                            deploy_step, home_of, host_rows, hosts_of, start)
from sshd import free_port

__all__ = ["deploy_dir"]       # fixture


def store_text(directory) -> str:
    with sqlite3.connect(directory / ".flowplan" / "flowplan.db") as db:
        tables = [row[0] for row in db.execute("select name from sqlite_master "
                                               "where type = 'table'")]
        return "\n".join(str(row) for table in tables
                         for row in db.execute(f'select * from "{table}"'))


def test_ecs_instances_are_deployed_through_cloud_assistant(tmp_path, deploy_dir):
    with fx.emulator(tmp_path / "instances") as ecs:
        ecs_block = '  ecs {\n    instance_ids = ["i-web1", "i-web2"]\n  }'
        config = tmp_path / "config"
        service = applied(config, deploy_config(
            [ecs_block], download_path=deploy_dir, batches=2,
            settings=f'  artifact_url = "http://127.0.0.1:{free_port()}"',
            extra=fx.provider_block(ecs.endpoint)), variables=fx.keys())
        outcome = start(service)
        assert outcome.status == Status.SUCCEEDED, deploy_log(service, outcome.run)
        assert host_rows(service, outcome.run) == [("i-web1", 1, "succeeded"),
                                                   ("i-web2", 2, "succeeded")]
        for instance in ("i-web1", "i-web2"):
            current = current_of(ecs.home(instance), deploy_dir)
            assert (current / "dist" / "version").read_text() == "v1\n"
        record = hosts_of(service, outcome.run)["i-web1"]
        assert record.detail["connection"] == "ecs"
        assert record.detail["address"] == f"i-web1 ({fx.REGION})"
        log = deploy_log(service, outcome.run)
        assert "[i-web2] v1" in log
        assert fx.SECRET_KEY not in "\n".join(log)
        assert fx.SECRET_KEY not in store_text(config)
        assert "RunCommand" in {r.action for r in ecs.requests}


def test_ecs_instances_without_artifact_url_are_refused_before_any_is_touched(
        tmp_path, deploy_dir):
    with fx.emulator(tmp_path / "instances") as ecs:
        ecs_block = '  ecs {\n    instance_ids = ["i-web1"]\n  }'
        service = applied(tmp_path / "config", deploy_config(
            [ecs_block], download_path=deploy_dir, extra=fx.provider_block(ecs.endpoint)),
            variables=fx.keys())
        outcome = start(service)
        assert outcome.status == Status.FAILED
        assert "set `artifact_url` in the flowplan block" in \
            deploy_step(service, outcome.run).error
        assert "RunCommand" not in {r.action for r in ecs.requests}


def test_ecs_keys_without_values_where_the_run_goes_on_are_named_not_sent(tmp_path, deploy_dir):
    with fx.emulator(tmp_path / "instances") as ecs:
        ecs_block = '  ecs {\n    instance_ids = ["i-web1"]\n  }'
        config = tmp_path / "config"
        service = applied(config, deploy_config(
            [ecs_block], download_path=deploy_dir,
            settings=f'  artifact_url = "http://127.0.0.1:{free_port()}"',
            extra=fx.provider_block(ecs.endpoint)), variables=fx.keys())
        # continued where the keys' variables have no value (this process has no FP_VAR_...)
        service.targets = engine.open_run_service(config).targets
        outcome = start(service)
        assert outcome.status == Status.FAILED
        error = deploy_step(service, outcome.run).error
        assert 'the provider "alicloud" block has no access_key or secret_key in this run' \
            in error and "FP_VAR_NAME" in error
        assert "RunCommand" not in {r.action for r in ecs.requests}


def test_a_private_key_from_a_sensitive_variable_logs_in_and_is_kept_nowhere(
        tmp_path, ssh_hosts, deploy_dir):
    web0 = ssh_hosts[0]
    key = web0.client_key.read_text()
    host = "\n".join([f'  host "{web0.name}" {{', '    address     = "127.0.0.1"',
                      f"    port        = {web0.port}", f'    user        = "{web0.user}"',
                      "    private_key = var.deploy_key", "  }"])
    extra = 'variable "deploy_key" {\n  sensitive = true\n}\n'
    config = tmp_path / "config"
    service = applied(config, deploy_config([host], download_path=deploy_dir, extra=extra),
                      variables={"deploy_key": key})
    outcome = start(service)
    assert outcome.status == Status.SUCCEEDED, deploy_log(service, outcome.run)
    assert current_of(home_of(web0.user), deploy_dir) is not None
    secret_line = key.splitlines()[1]
    assert secret_line not in "\n".join(deploy_log(service, outcome.run))
    assert secret_line not in store_text(config)

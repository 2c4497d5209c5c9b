"""Loading the DESIGN sketch's config, spread over several files, into plain data with defaults."""

from __future__ import annotations

import textwrap

import pytest

from flowplan.values import KNOWN_AFTER_APPLY, Sensitive

SETTINGS = """\
    flowplan {
      state {
        backend = "local"
        path    = ".flowplan/state.json"
      }
      store = "sqlite:///.flowplan/flowplan.db"
    }

    provider "alicloud" {
      region     = "cn-hangzhou"
      access_key = env("ALIBABA_CLOUD_ACCESS_KEY_ID")
      secret_key = env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "none")
    }

    variable "webhook_secret" {
      sensitive = true
    }

    locals {
      environment = "daily"
    }

    source "app" {
      url    = "https://github.com/acme/app.git"
      branch = "master"
    }
"""

RESOURCES = """\
    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace  = acr_namespace.team.name
      name       = "app"
      visibility = "private"
    }

    deployment_group "daily" {
      environment = local.environment
      host "web1" {
        address = "127.0.0.5"
        user    = "admin"
      }
      host "web2" {
        address = "127.0.0.6"
        port    = 2222
      }
      ecs {
        instance_ids = ["i-abc"]
      }
    }

    webhook "push" {
      pipeline = pipeline.java_ecs
      source   = source.app
      events   = ["push"]
      branches = ["master"]
      secret   = var.webhook_secret
    }

    schedule "nightly" {
      pipeline = pipeline.java_ecs
      cron     = "0 2 * * *"
      timezone = "Asia/Seoul"
    }
"""

PIPELINE = """\
    pipeline "java_ecs" {
      source = source.app
      cache "maven" {
        paths = ["~/.m2/repository"]
        key   = "maven-${hash_files("**/pom.xml")}"
      }

      stage "test" {
        task "lint" {
          step "sh" {
            type = "command"
            run  = "./scripts/lint.sh"
          }
        }
        task "unit" {
          needs   = ["lint"]
          retries = 2
          step "mvn" {
            type    = "command"
            run     = "mvn -B test"
            timeout = "10m"
          }
        }
      }

      stage "build" {
        task "package" {
          step "mvn" {
            type = "command"
            run  = "mvn -B package -DskipTests"
          }
          step "archive" {
            type  = "archive"
            name  = "package"
            paths = ["target/application.jar", "deploy.sh"]
          }
        }
      }

      stage "deploy" {
        trigger = "manual"
        task "approve" {
          step "ok" {
            type      = "manual_approval"
            approvers = ["alice"]
          }
        }
      }
    }
"""

ENVIRON = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "AKID", "FP_VAR_webhook_secret": "hush"}


@pytest.fixture
def sketch(load):
    return load({"main.hcl": SETTINGS, "resources.hcl": RESOURCES, "pipeline.hcl": PIPELINE},
                environ=ENVIRON)


def test_sketch_spread_over_three_files_loads_without_diagnostics(sketch):
    assert list(sketch.diagnostics) == []
    assert sorted(sketch.resources) == [
        "acr_namespace.team", "acr_repository.app", "deployment_group.daily",
        "pipeline.java_ecs", "schedule.nightly", "webhook.push"]
    assert set(sketch.texts) == {"main.hcl", "resources.hcl", "pipeline.hcl"}


def test_settings_block_decodes_nested_state_block_and_fills_defaults(sketch):
    assert sketch.settings == {
        "state": {"backend": "local", "path": ".flowplan/state.json", "url": None},
        "store": "sqlite:///.flowplan/flowplan.db",
        "artifacts_dir": ".flowplan/artifacts",
        "cache_dir": ".flowplan/caches",
        "workspace_dir": ".flowplan/workspaces",
        "parallelism": 10,
        "run_as": None,
        "tools": None,
        "artifact_url": None,
        "server": None,
        "executor": "local",
        "broker": None,
        "heartbeat_interval": 1.0,
        "heartbeat_timeout": 10.0,
    }


def test_config_without_settings_block_gets_default_settings(load):
    config = load('locals {\n  a = 1\n}\n')
    assert config.settings["state"] is None
    assert config.settings["store"] == "sqlite:///.flowplan/flowplan.db"
    assert config.settings["parallelism"] == 10


def test_provider_block_keeps_its_evaluated_settings(sketch):
    assert sketch.providers == {"alicloud": {
        "region": "cn-hangzhou", "access_key": "AKID", "secret_key": "none"}}


def test_variable_local_and_source_are_evaluated(sketch):
    secret = sketch.variables["webhook_secret"]
    assert secret.sensitive and secret.value == "hush"
    assert sketch.locals == {"environment": "daily"}
    assert sketch.sources["app"] == {
        "name": "app", "url": "https://github.com/acme/app.git", "branch": "master",
        "tag": None, "commit": None, "depth": None, "submodules": False, "credentials": None}


def test_acr_namespace_and_repository_decode_with_defaults(sketch):
    namespace = sketch.resources["acr_namespace.team"]
    assert namespace.provider == "alicloud"
    assert namespace.attributes == {"instance_id": "cri-123", "name": "team",
                                    "auto_create_repo": False, "default_visibility": "private"}
    repository = sketch.resources["acr_repository.app"]
    assert repository.attributes == {"namespace": "team", "name": "app", "visibility": "private",
                                     "summary": "", "description": "", "instance_id": None}
    assert repository.dependencies == ["acr_namespace.team"]


def test_deployment_group_decodes_hosts_by_label_and_ecs_block(sketch):
    group = sketch.resources["deployment_group.daily"]
    assert group.provider == "flowplan"
    assert group.attributes == {
        "environment": "daily",
        "description": "",
        "host": {
            "web1": {"address": "127.0.0.5", "connection": "ssh", "user": "admin", "port": 22,
                     "key_file": None, "private_key": None, "labels": {}, "vars": {}},
            "web2": {"address": "127.0.0.6", "connection": "ssh", "user": None, "port": 2222,
                     "key_file": None, "private_key": None, "labels": {}, "vars": {}},
        },
        "ecs": {"instance_ids": ["i-abc"], "tags": {}, "region": None},
    }


def test_attribute_ranges_reach_into_nested_blocks_by_dotted_path(sketch):
    lines = textwrap.dedent(RESOURCES).splitlines()

    def position(text: str) -> tuple[int, int]:
        number = next(i for i, line in enumerate(lines, 1) if text in line)
        return number, lines[number - 1].index(text.split()[0]) + 1

    group = sketch.resources["deployment_group.daily"]

    def at(path: str) -> tuple[int, int]:
        found = group.attribute_range(path)
        assert found.file.endswith("resources.hcl")
        return found.line, found.column

    web2 = position('host "web2" {')
    assert at("host.web2") == web2
    assert at("host.web2.port") == position("port    = 2222")
    assert at("host.web2.key_file") == web2              # not set: its block
    assert at("host.web1.user") == position('user    = "admin"')
    assert at("ecs.instance_ids") == position('instance_ids = ["i-abc"]')
    assert at("host.nowhere.port") == position('host "web1" {')
    assert at("environment") == position("environment = local.environment")
    assert at("description") == position('deployment_group "daily" {')


def test_webhook_takes_pipeline_address_source_data_and_sensitive_secret(sketch):
    webhook = sketch.resources["webhook.push"]
    assert webhook.provider == "github"
    attributes = dict(webhook.attributes)
    secret = attributes.pop("secret")
    assert isinstance(secret, Sensitive) and secret.value == "hush"
    assert attributes["pipeline"] == "pipeline.java_ecs"
    assert attributes["source"]["url"] == "https://github.com/acme/app.git"
    assert attributes["events"] == ["push"] and attributes["branches"] == ["master"]
    assert webhook.dependencies == ["pipeline.java_ecs"]


def test_schedule_decodes_with_defaults(sketch):
    schedule = sketch.resources["schedule.nightly"]
    assert schedule.attributes == {"pipeline": "pipeline.java_ecs", "cron": "0 2 * * *",
                                   "timezone": "Asia/Seoul", "branch": None, "variables": {},
                                   "enabled": True, "only_if_changed": False}
    assert schedule.dependencies == ["pipeline.java_ecs"]


def test_pipeline_decodes_stages_tasks_steps_and_caches_with_defaults(sketch):
    pipeline = sketch.resources["pipeline.java_ecs"].attributes
    assert pipeline["version"] == 2
    assert pipeline["parallelism"] == 4 and pipeline["description"] == ""
    assert pipeline["source"]["name"] == "app"
    assert list(pipeline["stages"]) == ["test", "build", "deploy"]
    assert [s["index"] for s in pipeline["stages"].values()] == [0, 1, 2]
    assert pipeline["stages"]["deploy"]["trigger"] == "manual"
    assert pipeline["stages"]["test"]["trigger"] == "auto"
    unit = pipeline["stages"]["test"]["tasks"]["unit"]
    assert unit == {
        "needs": ["lint"], "timeout": None, "retries": 2, "allow_failure": False, "when": None,
        "steps": {"mvn": {"index": 0, "type": "command", "run": "mvn -B test",
                          "shell": "bash -e", "env": {}, "timeout": "10m", "outputs": []}},
    }
    package = pipeline["stages"]["build"]["tasks"]["package"]["steps"]
    assert package["archive"] == {"index": 1, "type": "archive", "name": "package",
                                  "paths": ["target/application.jar", "deploy.sh"]}
    approval = pipeline["stages"]["deploy"]["tasks"]["approve"]["steps"]["ok"]
    assert approval == {"index": 0, "type": "manual_approval", "approvers": ["alice"],
                        "roles": [], "method": "anyone", "timeout": None, "description": ""}
    cache = pipeline["caches"]["maven"]
    assert cache["paths"] == ["~/.m2/repository"] and cache["restore_keys"] == []
    assert cache["key"] == {"$deferred": 'maven-${hash_files("**/pom.xml")}',
                            "sensitive": False}


def test_resource_records_block_and_attribute_positions(sketch):
    repository = sketch.resources["acr_repository.app"]
    assert str(repository.range) == "resources.hcl:6:1"
    assert str(repository.attribute_range("namespace")) == "resources.hcl:7:3"
    assert str(repository.attribute_range("summary")) == "resources.hcl:6:1"


def test_provider_meta_argument_overrides_the_default_provider(load, monkeypatch):
    monkeypatch.setenv("FLOWPLAN_PROVIDER_PLUGINS",
                       "alicloud_intl=recorder_provider:RecorderProvider")
    config = load("""\
        acr_namespace "team" {
          provider    = "alicloud_intl"
          instance_id = "cri-1"
          name        = "team"
        }
    """)
    assert list(config.diagnostics) == []
    resource = config.resources["acr_namespace.team"]
    assert resource.provider == "alicloud_intl"
    assert "provider" not in resource.attributes


def test_computed_attribute_of_another_resource_is_known_after_apply(load):
    config = load("""\
        acr_repository "app" {
          namespace = "team"
          name      = "app"
        }
        schedule "nightly" {
          pipeline = pipeline.p
          cron     = "0 2 * * *"
          branch   = acr_repository.app.id
        }
        pipeline "p" {
        }
    """)
    assert list(config.diagnostics) == []
    assert config.resources["schedule.nightly"].attributes["branch"] == KNOWN_AFTER_APPLY


def test_empty_directory_is_a_diagnostic(config_dir):
    from flowplan.config.loader import load_config

    config = load_config(config_dir, environ={})
    assert [d.summary for d in config.diagnostics] == ["No configuration files"]

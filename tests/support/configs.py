"""Inline HCL configs used by more than one test file: the in-process plan/apply tests
(tests/unit/engine) and the CLI tests (tests/e2e) write the same configs, so they live here once."""

from __future__ import annotations


# Pipeline, schedule, deployment group, ACR namespace and repository, webhook with a secret var.
APP_STACK = """
    variable "hook_secret" {
      type      = string
      sensitive = true
    }

    pipeline "app" {
      description = "build and ship the app"
      stage "build" {
        task "package" {
          step "mvn" {
            type = "command"
            run  = "mvn -B package"
          }
        }
      }
    }

    schedule "nightly" {
      pipeline = pipeline.app
      cron     = "0 2 * * *"
    }

    deployment_group "daily" {
      environment = "daily"
      host "web1" {
        connection = "local"
        vars       = { APP_PORT = "18080" }
      }
    }

    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app"
    }

    webhook "push" {
      pipeline = pipeline.app
      secret   = var.hook_secret
    }
"""

# Pipeline with a schedule, ACR namespace and repository, and a webhook (no variables).
REGISTRY_AND_PIPELINE = """
    pipeline "app" {
      stage "build" {
        task "package" {
          step "mvn" {
            type = "command"
            run  = "mvn -B package"
          }
        }
      }
    }

    schedule "nightly" {
      pipeline = pipeline.app
      cron     = "0 2 * * *"
    }

    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app"
    }

    webhook "push" {
      pipeline = pipeline.app
    }
"""

# ACR repository whose instance_id is its namespace's id, known only after apply.
ID_CONFIG = """
    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace   = acr_namespace.team.name
      name        = "app"
      instance_id = acr_namespace.team.id
    }
"""

# Three resources referring to each other in a cycle (a -> c -> b -> a), and one that is fine.
REFERENCE_CYCLE = """
    acr_namespace "a" {
      instance_id = "cri-1"
      name        = acr_repository.c.name
    }

    acr_repository "b" {
      namespace = acr_namespace.a.name
      name      = "b"
    }

    acr_repository "c" {
      namespace = acr_repository.b.namespace
      name      = "c"
    }

    acr_namespace "fine" {
      instance_id = "cri-2"
      name        = "fine"
    }
"""

# ACR namespace "team" with a repository depending on it, and an independent namespace "other".
TWO_NAMESPACES_AND_REPOSITORY = """
    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app"
    }

    acr_namespace "other" {
      instance_id = "cri-456"
      name        = "other"
    }
"""

# Sensitive `hook_secret` in a webhook, a repository (template, function) and a pipeline (local).
HOOK_SECRET_EVERYWHERE = """
    variable "hook_secret" {
      type      = string
      sensitive = true
    }

    locals {
      token = var.hook_secret
    }

    pipeline "app" {
      variables = { DEPLOY_TOKEN = var.hook_secret }
      stage "build" {
        task "package" {
          step "push" {
            type = "command"
            run  = "deploy --token-from-env"
            env  = { TOKEN = local.token }
          }
        }
      }
    }

    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace   = acr_namespace.team.name
      name        = "app"
      description = "pushed with ${var.hook_secret}"
      summary     = upper(local.token)
    }

    webhook "push" {
      pipeline = pipeline.app
      secret   = var.hook_secret
    }
"""

# One more ACR namespace, appended to a config to make a plan that adds something.
OTHER_NAMESPACE = '\nacr_namespace "other" {\n  instance_id = "cri-9"\n  name        = "other"\n}\n'

# The addresses APP_STACK declares (test_engine_targets_and_destroy's variant too), sorted.
APP_STACK_ADDRESSES = ["acr_namespace.team", "acr_repository.app", "deployment_group.daily",
                       "pipeline.app", "schedule.nightly", "webhook.push"]

# ID_CONFIG with its state kept at custom/state.json (the `flowplan {}` block's path).
CUSTOM_STATE_PATH = """
    flowplan {
      state {
        path = "custom/state.json"
      }
    }
""" + ID_CONFIG


# The pg state backend, its URL from $FLOWPLAN_STATE_URL (the state tests' settings block).
PG_STATE_SETTINGS = """
    flowplan {
      state {
        backend = "pg"
        url     = env("FLOWPLAN_STATE_URL")
      }
    }
"""

# Two resources that need no server (the CR emulator's offline plan), one depending on the other.
ACR_NAMESPACE_AND_REPOSITORY = """
    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app"
    }
"""

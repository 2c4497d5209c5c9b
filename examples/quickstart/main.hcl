# flowplan quickstart: a pipeline that tests, packages, waits for an approval and "deploys" a tiny
# app kept in a local git repository (run.sh creates it under .flowplan/app.git).

flowplan {
  state {
    backend = "local"
    path    = ".flowplan/state.json"
  }
  store = "sqlite:///.flowplan/flowplan.db"
  server {                          # flowplan serve: loopback only
    host = "127.0.0.1"
    port = 8080
  }
}

variable "deploy_token" {
  description = "Credential the deploy step uses: masked in every log line, never stored."
  type        = string
  sensitive   = true
  default     = "quickstart-not-a-real-token"
}

variable "webhook_secret" {
  description = "Signed webhook deliveries (GitHub's X-Hub-Signature-256) are checked with it."
  type        = string
  sensitive   = true
  default     = "quickstart-webhook-secret"
}

variable "environment" {
  type    = string
  default = "dev"
}

locals {
  app_name = "hello"
}

source "app" {
  url    = "${path.config}/.flowplan/app.git"
  branch = "master"
}

# This machine itself, reached without SSH (connection = "local"), as the user flowplan runs as.
# A host reached over SSH has an address instead, and apply records its host key.
deployment_group "local" {
  environment = var.environment
  host "localhost" {
    connection = "local"
    vars = {
      APP_PORT = "8080"
    }
  }
}

pipeline "quickstart" {
  description = "Test, package, approve and deploy ${local.app_name}"
  source      = source.app
  variables = {
    APP_NAME = local.app_name
  }

  stage "test" {
    task "unit" {
      step "test" {
        type = "command"
        run  = "./test.sh"
      }
    }
    task "lint" {
      step "syntax" {
        type = "command"
        run  = "bash -n deploy.sh && echo deploy.sh looks fine"
      }
    }
  }

  stage "package" {
    task "build" {
      step "stamp" {
        type = "command"
        run  = "echo \"${run.variables.APP_NAME} built from ${run.commit_short} on ${run.branch}\" > BUILD_INFO"
      }
      step "archive" {
        type  = "archive"
        name  = "package"
        paths = ["app.sh", "deploy.sh", "BUILD_INFO"]
      }
    }
  }

  stage "release" {
    task "approval" {
      step "gate" {
        type        = "manual_approval"
        approvers   = ["release-manager"]
        description = "Deploy ${local.app_name} to ${var.environment}?"
      }
    }
  }

  stage "deploy" {
    task "deploy" {
      step "deploy" {
        type = "command"
        run  = "./deploy.sh ${var.environment} ${var.deploy_token}"
        env = {
          DEPLOY_DIR = "${path.config}/.flowplan/deployed"
        }
      }
    }
  }
}

schedule "nightly" {
  pipeline = pipeline.quickstart
  cron     = "0 2 * * *"
  timezone = "UTC"
}

# `flowplan serve` runs the pipeline on every push to master of the app's repository: apply
# installs a post-receive hook there (provider "git") that tells the server which refs moved.
# The server also takes deliveries signed with the secret (GitHub's X-Hub-Signature-256) at
# http://127.0.0.1:8080/hooks/push, e.g. from a mirror's GitHub webhook.
webhook "push" {
  provider   = "git"
  pipeline   = pipeline.quickstart
  repository = "${path.config}/.flowplan/app.git"
  branches   = ["master"]
  secret     = var.webhook_secret
}

# flowplan java-ecs walkthrough: a Java service (app/, kept in a local git repository that run.sh
# creates under .flowplan/greeter.git) is scanned and unit tested in parallel, built and packaged
# into package.tgz, deployed with host_deploy to two SSH hosts in two batches (a pause after the
# first), then, when someone approves, to two ECS instances through Cloud Assistant.
# Variables are in variables.hcl; run.sh starts the hosts (local sshd processes) and the ECS API
# (the emulator of flowplan's tests) that stand in for real machines here.

flowplan {
  state {
    backend = "local"
    path    = ".flowplan/state.json"
  }
  store = "sqlite:///.flowplan/flowplan.db"

  # Where ECS instances fetch package.tgz from during a deploy (one-time URLs); an address of
  # this machine that the instances reach.
  artifact_url = "http://127.0.0.1:18400"

  tools {
    jdk = {
      "17" = "/usr/lib/jvm/java-17-openjdk-amd64"
    }
  }
}

provider "alicloud" {
  region     = "cn-hangzhou"
  access_key = var.alicloud_access_key # FP_VAR_alicloud_access_key, never in a file
  secret_key = var.alicloud_secret_key
  endpoint   = "http://127.0.0.1:${var.ecs_port}" # the emulator run.sh starts
}

locals {
  # What each host runs in its release directory (package.tgz unpacked there): restart the
  # greeter from this release. The pid file and the log stay in download_path, beside
  # releases/ and current, so the next release finds the service this one started.
  restart = <<-EOT
    app=$(dirname "$(dirname "$PWD")")
    export GREETER_PID_FILE="$app/greeter.pid" GREETER_LOG="$app/greeter.log"
    ./deploy.sh restart
  EOT

  # Real instances would all listen on one port; the emulated ones are all this machine, so
  # each takes a port of its own (SSH hosts have theirs in their `vars`).
  ecs_port = <<-EOT
    case $FLOWPLAN_HOST in
      i-greeter1) export GREETER_PORT=${var.port + 2} ;;
      i-greeter2) export GREETER_PORT=${var.port + 3} ;;
    esac
  EOT
}

source "greeter" {
  url    = "${path.config}/.flowplan/greeter.git"
  branch = "master"
}

# Two hosts reached over SSH. Here they are sshd processes on this machine, each a system user
# of its own, that run.sh starts; it writes their ports, users and key into sshd.auto.fpvars.
# Each host runs the service on its own port (a host's `vars` reach the scripts run on it).
deployment_group "daily" {
  environment = "daily"
  host "web1" {
    address  = "127.0.0.1"
    port     = var.web1_port
    user     = var.web1_user
    key_file = var.ssh_key_file
    vars     = { GREETER_PORT = format("%d", var.port) }
  }
  host "web2" {
    address  = "127.0.0.1"
    port     = var.web2_port
    user     = var.web2_user
    key_file = var.ssh_key_file
    vars     = { GREETER_PORT = format("%d", var.port + 1) }
  }
}

# Two ECS instances, reached through Cloud Assistant (the provider block's credentials). Here the
# ECS API is the emulator run.sh starts, whose instances run their commands on this machine.
deployment_group "production" {
  environment = "production"
  ecs {
    instance_ids = ["i-greeter1", "i-greeter2"]
  }
}

pipeline "java_ecs" {
  description = "Scan, test, build and package the greeter; deploy it to daily, then production"
  source      = source.greeter
  variables = {
    # The unit tests read it (PipelineDemoTest fails when it is true): every step's environment.
    GREETER_FAIL_TEST = var.fail_a_test
  }

  stage "test" {
    task "scan" {
      timeout = "10m"
      step "p3c" {
        type    = "java_code_scan"
        exclude = ["src/test/**"]
        fail_on = "blocker"
      }
    }
    task "unit" {
      timeout = "15m"
      step "junit" {
        type       = "maven_unit_test"
        command    = "mvn -B ${var.maven_flags} test"
        report_dir = "target/surefire-reports"
        jdk        = "17"
      }
    }
  }

  stage "build" {
    task "package" {
      timeout = "15m"
      step "jar" {
        type    = "java_build"
        command = "mvn -B ${var.maven_flags} package -DskipTests"
        jdk     = "17"
      }
      step "archive" {
        type  = "archive"
        name  = "package"
        paths = ["target/*.jar", "deploy.sh"]
      }
    }
  }

  # The daily hosts, one batch at a time: web1 first, then a pause until someone runs
  # `flowplan resume` (web1 is the canary), then web2.
  stage "deploy" {
    task "daily" {
      timeout = "10m"
      step "hosts" {
        type             = "host_deploy"
        artifact         = "package"
        deployment_group = deployment_group.daily
        download_path    = "greeter" # ~/greeter on each host: releases/, current
        batches          = 2
        pause            = "first_batch"
        keep_releases    = 3
        script           = local.restart
        # each host's own port, from its vars: a command, since a URL is taken as written
        health_check         = "curl -fsS http://127.0.0.1:$GREETER_PORT/health"
        health_check_timeout = "30s"
      }
    }
  }

  # Production, when someone approves: both ECS instances at once.
  stage "production" {
    trigger = "manual"
    task "ecs" {
      timeout = "10m"
      step "instances" {
        type             = "host_deploy"
        artifact         = "package"
        deployment_group = deployment_group.production
        download_path    = "greeter"
        keep_releases    = 3
        script           = "${local.ecs_port}${local.restart}"
        health_check     = "${local.ecs_port}curl -fsS http://127.0.0.1:$GREETER_PORT/health"
      }
    }
  }
}

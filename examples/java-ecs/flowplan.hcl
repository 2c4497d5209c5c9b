# flowplan java-ecs walkthrough: a Java service (app/, kept in a local git repository that run.sh
# creates under .flowplan/greeter.git) is scanned and unit tested in parallel, built and packaged
# into package.tgz, and, when someone continues the run, unpacked and started on this machine.
# Variables are in variables.hcl.

flowplan {
  state {
    backend = "local"
    path    = ".flowplan/state.json"
  }
  store = "sqlite:///.flowplan/flowplan.db"

  tools {
    jdk = {
      "17" = "/usr/lib/jvm/java-17-openjdk-amd64"
    }
  }
}

locals {
  install_dir   = var.install_dir != "" ? var.install_dir : "${path.config}/.flowplan/greeter"
  port          = format("%d", var.port) # environment values are strings
}

source "greeter" {
  url    = "${path.config}/.flowplan/greeter.git"
  branch = "master"
}

pipeline "java_ecs" {
  description = "Scan, test, build and package the greeter; deploy it here when asked"
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

  stage "deploy" {
    trigger = "manual"
    task "local" {
      timeout = "5m"
      step "fetch" {
        # package.tgz of this run's build stage, unpacked into release/ of this task's workspace
        type = "download_artifact"
        name = "package"
        path = "release"
      }
      step "install" {
        type = "command"
        run  = <<-EOT
          release="${local.install_dir}/releases/$FLOWPLAN_RUN_NUMBER"
          rm -rf "$release"
          mkdir -p "$release"
          cp -R release/. "$release/"
          ln -sfn "$release" "${local.install_dir}/current"
          echo "installed into $release:" $(cd "$release" && find . -type f | sort)
          "$release/deploy.sh" restart
        EOT
        env = {
          GREETER_PORT     = local.port
          GREETER_PID_FILE = "${local.install_dir}/greeter.pid"
          GREETER_LOG      = "${local.install_dir}/greeter.log"
        }
      }
      step "check" {
        type = "command"
        run  = <<-EOT
          "${local.install_dir}/current/deploy.sh" status
          curl -fsS "http://127.0.0.1:${var.port}/?name=flowplan"
        EOT
        env = {
          GREETER_PORT     = local.port
          GREETER_PID_FILE = "${local.install_dir}/greeter.pid"
        }
      }
    }
  }
}

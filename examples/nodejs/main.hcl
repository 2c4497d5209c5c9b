# flowplan example: test, build and package a Node.js package kept in a local git repository
# (run.sh creates it under .flowplan/app.git). It has no dependencies, and npm is kept offline.

source "web" {
  url    = "${path.config}/.flowplan/app.git"
  branch = "master"
}

pipeline "web" {
  description = "Test, build and package the web greeter"
  source      = source.web

  stage "test" {
    task "unit" {
      step "test" {
        type = "nodejs_test"
        env  = { npm_config_offline = "true" }
      }
    }
  }

  stage "build" {
    task "bundle" {
      step "build" {
        type = "nodejs_build"
        env  = { npm_config_offline = "true" }
      }
      step "package" {
        type  = "archive"
        name  = "web"
        paths = ["dist/*", "package.json"]
      }
    }
  }
}

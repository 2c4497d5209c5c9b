# flowplan across machines: the server's config. `flowplan serve` (on the server machine) and
# whoever applies (a laptop, a CI job) use this directory; each worker machine has only the
# `flowplan {}` block of worker/flowplan.hcl.
#
# Every URL comes from the environment, never from this file, so no password is written here:
#   FLOWPLAN_STORE_URL   postgresql://flowplan:PASSWORD@db.internal:5432/flowplan   (runs, logs, users)
#   FLOWPLAN_STATE_URL   postgresql://flowplan:PASSWORD@db.internal:5432/flowplan   (what apply made)
#   FLOWPLAN_BROKER_URL  redis://broker.internal:6379/0                             (task messages)
# run.sh sets them for the servers it starts on 127.0.0.1.

flowplan {
  store = env("FLOWPLAN_STORE_URL")        # store = "postgresql://..."
  state {
    backend = "pg"
    url     = env("FLOWPLAN_STATE_URL")    # state { backend = "pg"  url = "postgresql://..." }
  }
  executor = "celery"                      # tasks go to `flowplan worker` processes ...
  broker   = env("FLOWPLAN_BROKER_URL")    # ... through this broker: broker = "redis://..."

  # The server's artifact storage: workers upload what their tasks archive here and download
  # what a later task needs (docs/multi-machine.md, "Artifacts and caches").
  artifacts_dir = ".flowplan/artifacts"

  server {
    host = "127.0.0.1"                     # run.sh passes --port; a real server listens on a
    port = 8080                            # private address behind a TLS proxy
    url  = env("FLOWPLAN_SERVER_URL", "http://127.0.0.1:8080")   # what workers reach
  }
}

pipeline "release" {
  description = "Build on a build machine, install on a deploy machine"

  stage "build" {
    task "compile" {
      runs_on = "build"                    # a worker started with --queue build takes it
      step "compile" {
        type = "command"
        run  = "mkdir -p out && printf 'hello from the build queue, built in %s\\n' \"$PWD\" > out/hello.txt && cat out/hello.txt"
      }
      step "package" {
        type  = "archive"
        name  = "hello"
        paths = ["out/hello.txt"]
      }
    }
  }

  stage "deploy" {
    task "install" {
      runs_on = "deploy"                   # a worker started with --queue deploy takes it
      step "fetch" {
        type = "download_artifact"
        name = "hello"
        path = "release"
      }
      step "install" {
        type = "command"
        run  = "printf 'installed on the deploy queue, in %s: ' \"$PWD\" && cat release/out/hello.txt"
      }
    }
  }
}

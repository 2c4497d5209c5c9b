# A worker machine's config: only the `flowplan {}` block. The worker reads the run's definition
# from the store, so it needs no pipeline here. Start it with
#   flowplan -C DIR worker --queue build --concurrency 4
# with FLOWPLAN_STORE_URL and FLOWPLAN_BROKER_URL (and FLOWPLAN_SECRET_KEY_FILE) in its
# environment; see docs/multi-machine.md.

flowplan {
  store    = env("FLOWPLAN_STORE_URL")
  executor = "celery"
  broker   = env("FLOWPLAN_BROKER_URL")

  # This machine's own directories: where it checks sources out and runs tasks, and where
  # artifacts go (a directory shared with the other workers on one machine, as run.sh does).
  workspace_dir = ".flowplan/workspaces"
  artifacts_dir = env("FLOWPLAN_ARTIFACTS_DIR", ".flowplan/artifacts")

  server {
    url = env("FLOWPLAN_SERVER_URL", "http://127.0.0.1:8080")
  }
}

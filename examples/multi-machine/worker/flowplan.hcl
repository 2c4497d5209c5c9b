# A worker machine's config: only the `flowplan {}` block. The worker reads the run's definition
# from the store, so it needs no pipeline here. Start it with
#   flowplan -C DIR worker --queue build --concurrency 4
# with FLOWPLAN_STORE_URL, FLOWPLAN_BROKER_URL, FLOWPLAN_SERVER_URL, FLOWPLAN_SECRET_KEY_FILE and
# FLOWPLAN_WORKER_TOKEN (`flowplan token create --worker NAME`) in its environment; see docs/multi-machine.md.

flowplan {
  store    = env("FLOWPLAN_STORE_URL")
  executor = "celery"
  broker   = env("FLOWPLAN_BROKER_URL")

  # This machine's own directories: where it checks sources out and runs tasks, and where it
  # keeps the artifacts and caches it moved through the server (shared with no other machine).
  workspace_dir = ".flowplan/workspaces"
  artifacts_dir = ".flowplan/artifacts"

  server {
    url = env("FLOWPLAN_SERVER_URL", "http://127.0.0.1:8080")
  }
}

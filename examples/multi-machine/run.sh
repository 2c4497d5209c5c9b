#!/usr/bin/env bash
# The multi-machine setup on one machine: start PostgreSQL (the store and the state), Redis (the
# broker), `flowplan serve` (the server, which drives runs) and two `flowplan worker` processes
# on the queues `build` and `deploy`, each in a directory of its own as if on its own machine,
# all on 127.0.0.1 with free ports; apply the config; start the pipeline `release` through the
# server's REST API; wait for it, show it and its logs; then stop everything it started.
#
#   ./run.sh          the walkthrough (as root: initdb runs as the postgres system user)
#   ./run.sh stop     stop what a run left running (MULTI_MACHINE_KEEP_RUNNING=1 leaves it)
#
# Needs flowplan, python3, curl, and Debian's postgresql and redis-server packages. Everything
# it makes is under .flowplan/ here. FLOWPLAN_CHECKOUT names the flowplan checkout whose
# tests/support starts the database and the broker when this directory is not in one.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
repo=${FLOWPLAN_CHECKOUT:-$(cd ../.. && pwd)}
if [ ! -f "$repo/tests/support/postgres.py" ] || [ ! -f "$repo/tests/support/redis_server.py" ]; then
  echo "run.sh starts PostgreSQL and Redis with flowplan's tests/support: run it in" \
    "examples/multi-machine of a flowplan checkout, or set FLOWPLAN_CHECKOUT to one" >&2
  exit 1
fi
top=$here/.flowplan/cluster          # the database, the broker, the machines, the logs

support() {
  PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH} python3 -m "$@"
}

# Stop the process whose pid is in file $1 if it still is a $2 (a pid is reused once it ended).
stop_pid_file() {
  local file=$1 what=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if grep -qs -- "$what" "/proc/$pid/cmdline" && kill "$pid" 2>/dev/null; then
    for _ in $(seq 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    echo "stopped $(basename "$file" .pid) (pid $pid)"
  fi
  rm -f "$file"
}

stop_everything() {
  stop_pid_file "$top/worker-build.pid" flowplan
  stop_pid_file "$top/worker-deploy.pid" flowplan
  stop_pid_file "$top/serve.pid" flowplan
  stop_pid_file "$top/redis.pid" redis-server
  if [ -f "$top/postgres/data/postmaster.pid" ]; then
    support tests.support.postgres --stop --dir "$top/postgres" >/dev/null 2>&1 || true
    echo "stopped PostgreSQL"
  fi
}

case "${1:-}" in
  stop) stop_everything; exit 0 ;;
  "") ;;
  *) echo "usage: ./run.sh [stop]" >&2; exit 2 ;;
esac

stop_everything                       # whatever an earlier run left
rm -rf "$top"
mkdir -p "$top"
if [ "${MULTI_MACHINE_KEEP_RUNNING:-}" != 1 ]; then
  trap stop_everything EXIT
fi

# -- the database machine: one PostgreSQL database holds the store and the state -------------
echo "== starting PostgreSQL"
database_url=$(support tests.support.postgres --dir "$top/postgres")
export FLOWPLAN_STORE_URL=$database_url FLOWPLAN_STATE_URL=$database_url
echo "   $(python3 -c 'import sys; from flowplan.state.pg import shown_url; print(shown_url(sys.argv[1]))' "$database_url")"

# -- the broker machine -----------------------------------------------------------------------
echo "== starting Redis"
redis_line=$(support tests.support.redis_server --dir "$top/redis")
export FLOWPLAN_BROKER_URL=${redis_line%% *}
pid=${redis_line##*pid }
echo "${pid%)}" > "$top/redis.pid"
echo "   $FLOWPLAN_BROKER_URL"

# -- what every flowplan machine shares: the operator key (a file only its owner reads) -------
(umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$top/secret.key")
export FLOWPLAN_SECRET_KEY_FILE=$top/secret.key

# -- apply, from wherever people apply (state in PostgreSQL, waiting for a held lock) ---------
echo "== flowplan apply"
flowplan -C "$here" apply --auto-approve --lock-timeout 1m

# -- the server machine -----------------------------------------------------------------------
echo "== starting flowplan serve"
flowplan -C "$here" serve --port 0 > "$top/serve.log" 2>&1 &
echo $! > "$top/serve.pid"
server_url=
for _ in $(seq 300); do
  server_url=$(sed -n 's/^flowplan serve: listening on \(http[^ ]*\).*/\1/p' "$top/serve.log")
  [ -n "$server_url" ] && curl -fsS "$server_url/healthz" >/dev/null 2>&1 && break
  kill -0 "$(cat "$top/serve.pid")" 2>/dev/null || { cat "$top/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$server_url" ] || { echo "flowplan serve did not start:" >&2; cat "$top/serve.log" >&2; exit 1; }
export FLOWPLAN_SERVER_URL=$server_url
echo "   $server_url"

# -- two worker machines, one queue each ------------------------------------------------------
# Each has its own directories (workspaces, artifacts, caches): artifacts move between them
# through the server, with a worker token each. The token reaches the worker in its
# environment, never on a command line.
for queue in build deploy; do
  machine=$top/machine-$queue
  mkdir -p "$machine"
  cp "$here/worker/flowplan.hcl" "$machine/flowplan.hcl"
  echo "== flowplan token create --worker $queue-machine; starting flowplan worker --queue $queue (in $machine)"
  FLOWPLAN_WORKER_TOKEN=$(flowplan -C "$here" token create --worker "$queue-machine" 2>/dev/null) \
    flowplan -C "$machine" worker --queue "$queue" --concurrency 2 > "$top/worker-$queue.log" 2>&1 &
  echo $! > "$top/worker-$queue.pid"
done

# -- a user of the server starts the pipeline through the REST API ----------------------------
echo "== starting release through $server_url/api/v1"
python3 -c 'import secrets; print(secrets.token_urlsafe(24))' \
  | flowplan -C "$here" user add release-bot >/dev/null
token=$(flowplan -C "$here" token create release-bot --description "run.sh" 2>/dev/null)
# The token goes to curl in a file, not on its command line.
(umask 077 && printf 'Authorization: Bearer %s\n' "$token" > "$top/auth.header")
unset token
started=$(curl -fsS -X POST -H @"$top/auth.header" -H 'Content-Type: application/json' \
  -d '{}' "$server_url/api/v1/pipelines/release/runs")
number=$(printf '%s' "$started" | python3 -c 'import json, sys; print(json.load(sys.stdin)["number"])')
run="release#$number"
echo "   started $run"

status=
for _ in $(seq 600); do
  status=$(curl -fsS -H @"$top/auth.header" "$server_url/api/v1/runs/release/$number" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["run"]["status"])')
  case "$status" in succeeded|failed|canceled|interrupted) break ;; esac
  sleep 0.2
done
rm -f "$top/auth.header"

echo "== flowplan runs show $run"
flowplan -C "$here" runs show "$run"
echo "== flowplan logs $run"
flowplan -C "$here" logs "$run"
echo "== $run $status"
[ "$status" = succeeded ]

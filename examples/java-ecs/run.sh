#!/usr/bin/env bash
# The java-ecs walkthrough, end to end: make the greeter's git repository from app/; validate,
# plan and apply; run the pipeline, which scans and unit tests, builds package.tgz, and stops
# before the manual deploy stage; continue it, which unpacks the package and starts the service
# on this machine; then ask the service for a greeting, and stop it.
#
# Needs flowplan, git, mvn, java 17 and curl on PATH. FP_VAR_port=N picks the port (default
# 18080); FP_VAR_maven_flags="" builds with Maven repositories reachable instead of offline;
# GREETER_KEEP_RUNNING=1 leaves the service running at the end.
set -euo pipefail
cd "$(dirname "$0")"

port=${FP_VAR_port:-18080}
install_dir=${FP_VAR_install_dir:-$PWD/.flowplan/greeter}

if [ ! -d .flowplan/greeter.git ]; then
  echo "==> creating the greeter's git repository in .flowplan/greeter.git"
  work=$(mktemp -d)
  cp -R app/. "$work/"
  rm -rf "$work/target"
  git -C "$work" init -q -b master
  git -C "$work" add .
  git -C "$work" -c user.name=walkthrough -c user.email=walkthrough@example.invalid \
    commit -q -m "The greeter service"
  mkdir -p .flowplan
  git clone -q --bare "$work" .flowplan/greeter.git
  rm -rf "$work"
fi

echo "==> flowplan validate"
flowplan validate
echo "==> flowplan plan"
flowplan plan
echo "==> flowplan apply --auto-approve"
flowplan apply --auto-approve

echo "==> flowplan run java_ecs (it stops before the manual deploy stage: exit code 4)"
set +e
flowplan run java_ecs --branch master
status=$?
set -e
if [ "$status" -ne 4 ]; then
  echo "expected the run to wait before the deploy stage (exit code 4), got $status" >&2
  exit 1
fi
run=$(flowplan runs java_ecs --limit 1 --json \
  | python3 -c 'import json, sys; r = json.load(sys.stdin)[0]; print(r["pipeline"] + "#" + str(r["number"]))')

echo "==> flowplan runs show $run"
flowplan runs show "$run"

echo "==> flowplan approve $run (starts the deploy stage)"
flowplan approve "$run" --comment "deploy from the walkthrough"

echo "==> flowplan logs $run --task local"
flowplan logs "$run" --task local

echo "==> curl http://127.0.0.1:$port/health"
curl -fsS "http://127.0.0.1:$port/health"
echo "==> curl http://127.0.0.1:$port/?name=walkthrough"
curl -fsS "http://127.0.0.1:$port/?name=walkthrough"

if [ "${GREETER_KEEP_RUNNING:-0}" = 1 ]; then
  echo "==> the greeter keeps running on port $port; stop it with:"
  echo "    GREETER_PID_FILE=$install_dir/greeter.pid $install_dir/current/deploy.sh stop"
  exit 0
fi
echo "==> stopping the greeter"
GREETER_PORT=$port GREETER_PID_FILE="$install_dir/greeter.pid" "$install_dir/current/deploy.sh" stop

#!/usr/bin/env bash
# The java-ecs walkthrough, end to end: start the machines it deploys to (two SSH hosts: local
# sshd processes; two ECS instances: the ECS emulator of flowplan's tests); make the greeter's
# git repository from app/; validate, plan and apply; run the pipeline, which scans and unit
# tests, builds package.tgz, deploys it to web1 and pauses; resume it, which deploys web2 and
# waits for an approval of production; approve it, which deploys both ECS instances; ask each
# of the four services for a greeting; then stop everything it started.
#
#   ./run.sh          the walkthrough (as root: each SSH host is a system user of its own)
#   ./run.sh stop     stop the services, the SSH hosts and the emulator a run left running
#
# Needs flowplan, git, mvn, java 17, curl, python3 and openssh-server (sshd) on this machine.
# FP_VAR_port=N picks the services' ports (N for web1, N+1 web2, N+2 and N+3 the instances;
# default 18080); FP_VAR_ecs_port the emulator's (18500); FP_VAR_maven_flags="" builds with Maven
# repositories reachable instead of offline; GREETER_KEEP_RUNNING=1 leaves everything running
# at the end (./run.sh stop stops it); FLOWPLAN_CHECKOUT names the flowplan checkout whose tests
# start the machines when this directory is not in one.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
# The python -m modules below are flowplan's tests': this directory's checkout, or another one.
repo=${FLOWPLAN_CHECKOUT:-$(cd ../.. && pwd)}
if [ ! -f "$repo/tests/support/sshd.py" ] || [ ! -d "$repo/tests/emulators/aliyun" ]; then
  echo "run.sh starts its machines with flowplan's tests/support/sshd.py and tests/emulators:" \
    "run it in examples/java-ecs of a flowplan checkout, or set FLOWPLAN_CHECKOUT to one" >&2
  exit 1
fi

port=${FP_VAR_port:-18080}
ecs_port=${FP_VAR_ecs_port:-18500}
hosts_dir=$here/.flowplan/sshd
ecs_dir=$here/.flowplan/ecs
# The key pair the emulated ECS API accepts; flowplan reads it from these variables.
export FP_VAR_alicloud_access_key=${FP_VAR_alicloud_access_key:-LTAI-walkthrough}
export FP_VAR_alicloud_secret_key=${FP_VAR_alicloud_secret_key:-walkthrough-secret}

support() {
  PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH} python3 -m "$@"
}

# deploy.sh stop for the greeter deployed under $1 (a host's download_path), if it runs.
stop_greeter() {
  local app=$1
  if [ -f "$app/greeter.pid" ] && [ -x "$app/current/deploy.sh" ]; then
    GREETER_PID_FILE="$app/greeter.pid" "$app/current/deploy.sh" stop || true
  fi
}

stop_everything() {
  local home pid
  if [ -f "$hosts_dir/hosts.json" ]; then
    for home in $(python3 -c 'import json, sys
for host in json.load(open(sys.argv[1]))["hosts"]: print(host["home"])' "$hosts_dir/hosts.json"); do
      stop_greeter "$home/greeter"
    done
    support tests.support.sshd stop --dir "$hosts_dir"
  fi
  for home in "$ecs_dir"/instances/i-*; do
    [ -d "$home" ] && stop_greeter "$home/greeter"
  done
  if [ -f "$ecs_dir/emulator.pid" ]; then
    pid=$(cat "$ecs_dir/emulator.pid")
    # only while that pid is still the emulator (a pid is reused after its process ended)
    if grep -qs tests.emulators.aliyun "/proc/$pid/cmdline" && kill "$pid" 2>/dev/null; then
      for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      echo "stopped the ECS emulator (pid $pid)"
    fi
    rm -f "$ecs_dir/emulator.pid"
  fi
}

case "${1:-}" in
  stop)
    stop_everything
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: run.sh [stop]" >&2
    exit 2
    ;;
esac

if [ "$(id -u)" != 0 ]; then
  echo "run.sh needs root: each SSH host it starts is a system user of its own" >&2
  exit 1
fi
stop_everything >/dev/null                 # what an earlier run left running
if [ "${GREETER_KEEP_RUNNING:-0}" != 1 ]; then
  trap 'echo "==> stopping the services, the SSH hosts and the ECS emulator"; stop_everything' EXIT
fi

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

echo "==> python3 -m tests.support.sshd start --hosts 2 --dir .flowplan/sshd --fpvars sshd.auto.fpvars"
support tests.support.sshd start --hosts 2 --dir "$hosts_dir" --fpvars sshd.auto.fpvars

echo "==> python3 -m tests.emulators.aliyun --port $ecs_port ... --instances .flowplan/ecs/instances.json"
mkdir -p "$ecs_dir"
cat >"$ecs_dir/instances.json" <<'EOT'
[{"id": "i-greeter1", "region": "cn-hangzhou", "private_ip": "127.0.0.1", "tags": {"app": "greeter"}},
 {"id": "i-greeter2", "region": "cn-hangzhou", "private_ip": "127.0.0.1", "tags": {"app": "greeter"}}]
EOT
# in a session of its own, so that it outlives this script with GREETER_KEEP_RUNNING=1
PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH} setsid python3 -m tests.emulators.aliyun \
  --port "$ecs_port" --access-key-id "$FP_VAR_alicloud_access_key" \
  --access-key-secret "$FP_VAR_alicloud_secret_key" --instances "$ecs_dir/instances.json" \
  --root "$ecs_dir/instances" </dev/null >"$ecs_dir/emulator.log" 2>&1 &
echo $! >"$ecs_dir/emulator.pid"
for _ in $(seq 100); do
  grep -q "listening" "$ecs_dir/emulator.log" && break
  sleep 0.1
done
cat "$ecs_dir/emulator.log"
grep -q "listening" "$ecs_dir/emulator.log" || { echo "the ECS emulator did not start" >&2; exit 1; }

echo "==> flowplan validate"
flowplan validate
echo "==> flowplan plan"
flowplan plan
echo "==> flowplan apply --auto-approve"
flowplan apply --auto-approve

# `flowplan run` and `resume` exit 4 when the run waits for a person.
expect_waiting() {
  local status=0
  "$@" || status=$?
  if [ "$status" -ne 4 ]; then
    echo "expected \`$*\` to leave the run waiting (exit code 4), got $status" >&2
    exit 1
  fi
}

ask() {
  echo "==> curl http://127.0.0.1:$1/?name=$2"
  curl -fsS "http://127.0.0.1:$1/?name=$2"
}

echo "==> flowplan run java_ecs (it pauses after the first batch of the daily deploy: exit code 4)"
expect_waiting flowplan run java_ecs --branch master
run=$(flowplan runs java_ecs --limit 1 --json \
  | python3 -c 'import json, sys; r = json.load(sys.stdin)[0]; print(r["pipeline"] + "#" + str(r["number"]))')

echo "==> flowplan runs show $run"
flowplan runs show "$run"
ask "$port" web1
echo "==> curl http://127.0.0.1:$((port + 1))/health (web2 is not deployed yet)"
curl -sS "http://127.0.0.1:$((port + 1))/health" || true

echo "==> flowplan resume $run (deploys web2, then waits for the production approval: exit code 4)"
expect_waiting flowplan resume "$run"
ask "$((port + 1))" web2

echo "==> flowplan approve $run (deploys production)"
flowplan approve "$run" --comment "web1 and web2 look fine"

echo "==> flowplan runs show $run"
flowplan runs show "$run"
ask "$((port + 2))" i-greeter1
ask "$((port + 3))" i-greeter2

if [ "${GREETER_KEEP_RUNNING:-0}" = 1 ]; then
  echo "==> everything keeps running: web1 and web2 on ports $port and $((port + 1)), the ECS"
  echo "    instances on $((port + 2)) and $((port + 3)); stop it all with: ./run.sh stop"
fi

#!/usr/bin/env bash
# The image example, end to end: make the app's git repository; start a local registry (unless
# FP_VAR_registry_host names one); validate and apply; run the pipeline (jar, image, push); show
# the run and what the registry holds.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -d .flowplan/app.git ]; then
  echo "==> creating the example app's git repository in .flowplan/app.git"
  work=$(mktemp -d)
  cp -r app/. "$work/"
  git -C "$work" init -q -b master
  git -C "$work" add .
  git -C "$work" -c user.name=example -c user.email=example@example.invalid \
    commit -q -m "The hello service"
  mkdir -p .flowplan
  git clone -q --bare "$work" .flowplan/app.git
  rm -rf "$work"
fi

if [ -z "${FP_VAR_registry_host:-}" ]; then
  port=${REGISTRY_PORT:-5000}
  echo "==> starting docker-registry on 127.0.0.1:$port (storage in .flowplan/registry)"
  mkdir -p .flowplan/registry
  cat > .flowplan/registry/config.yml <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $PWD/.flowplan/registry/storage
http:
  addr: 127.0.0.1:$port
CONFIG
  docker-registry serve .flowplan/registry/config.yml >> .flowplan/registry/registry.log 2>&1 &
  registry_pid=$!
  trap 'kill "$registry_pid" 2>/dev/null || true' EXIT
  export FP_VAR_registry_host="127.0.0.1:$port"
  for _ in $(seq 50); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://$FP_VAR_registry_host/v2/')" \
      2>/dev/null && break
    sleep 0.2
  done
fi

echo "==> flowplan validate"
flowplan validate
echo "==> flowplan apply --auto-approve"
flowplan apply --auto-approve

echo "==> flowplan run hello"
flowplan run hello --branch master
run=$(flowplan runs hello --limit 1 --json \
  | python3 -c 'import json, sys; r = json.load(sys.stdin)[0]; print(r["pipeline"] + "#" + str(r["number"]))')

echo "==> flowplan runs show $run"
flowplan runs show "$run"
echo "==> the registry's tags of demo/hello-service"
python3 -c "import json, urllib.request
answer = urllib.request.urlopen('http://$FP_VAR_registry_host/v2/demo/hello-service/tags/list')
print(' '.join(sorted(json.load(answer)['tags'])))"

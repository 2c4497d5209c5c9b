#!/usr/bin/env bash
# The Kubernetes example, end to end: make the app's git repository; start a local registry
# (unless FP_VAR_registry_host names one) and the Kubernetes API emulator of flowplan's tests
# (unless FP_VAR_kubeconfig names a cluster's kubeconfig); validate and apply; run the pipeline
# (jar, image, push, blue/green deploy); show the run.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
pids=()
trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done' EXIT

if [ ! -d .flowplan/app.git ]; then
  echo "==> creating the example app's git repository in .flowplan/app.git"
  work=$(mktemp -d)
  cp -r app/. "$work/"
  git -C "$work" init -q -b master
  git -C "$work" add .
  git -C "$work" -c user.name=example -c user.email=example@example.invalid \
    commit -q -m "The hello service and its manifests"
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
    rootdirectory: $here/.flowplan/registry/storage
http:
  addr: 127.0.0.1:$port
CONFIG
  docker-registry serve .flowplan/registry/config.yml >> .flowplan/registry/registry.log 2>&1 &
  pids+=($!)
  export FP_VAR_registry_host="127.0.0.1:$port"
  for _ in $(seq 50); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://$FP_VAR_registry_host/v2/')" \
      2>/dev/null && break
    sleep 0.2
  done
fi

if [ -z "${FP_VAR_kubeconfig:-}" ]; then
  # the emulator lives in flowplan's source tree (tests/emulators/kubernetes)
  repo=${FLOWPLAN_SOURCE:-$(cd ../.. && pwd)}
  if [ ! -d "$repo/tests/emulators/kubernetes" ]; then
    echo "no cluster given (FP_VAR_kubeconfig) and no emulator in $repo/tests/emulators:" \
      "set FLOWPLAN_SOURCE to flowplan's source tree" >&2
    exit 1
  fi
  port=${KUBE_PORT:-6443}
  # the Python flowplan runs on has what the emulator needs (cryptography, PyYAML)
  python=$(dirname "$(command -v flowplan)")/python3
  [ -x "$python" ] || python=python3
  echo "==> starting the Kubernetes API emulator on 127.0.0.1:$port (its CA and kubeconfig in" \
    ".flowplan/kube)"
  mkdir -p .flowplan/kube
  rm -f .flowplan/kube/kubeconfig
  (cd "$repo" && exec "$python" -m tests.emulators.kubernetes --port "$port" \
    --dir "$here/.flowplan/kube") > /dev/null 2> .flowplan/kube/emulator.log &
  pids+=($!)
  for _ in $(seq 100); do
    [ -s .flowplan/kube/kubeconfig ] && break
    sleep 0.1
  done
  if [ ! -s .flowplan/kube/kubeconfig ]; then
    echo "the emulator did not start: see .flowplan/kube/emulator.log" >&2
    exit 1
  fi
  export FP_VAR_kubeconfig="$here/.flowplan/kube/kubeconfig"
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

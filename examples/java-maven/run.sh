#!/usr/bin/env bash
# The Maven example, end to end: make the app's git repository; validate and apply; run the
# pipeline (tests, jar, package.tgz); show the run with its test summary and artifacts.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -d .flowplan/app.git ]; then
  echo "==> creating the example app's git repository in .flowplan/app.git"
  work=$(mktemp -d)
  cp -r app/. "$work/"
  git -C "$work" init -q -b master
  git -C "$work" add .
  git -C "$work" -c user.name=example -c user.email=example@example.invalid \
    commit -q -m "The greeter"
  mkdir -p .flowplan
  git clone -q --bare "$work" .flowplan/app.git
  rm -rf "$work"
fi

echo "==> flowplan validate"
flowplan validate
echo "==> flowplan apply --auto-approve"
flowplan apply --auto-approve

echo "==> flowplan run greeter"
flowplan run greeter --branch master
run=$(flowplan runs greeter --limit 1 --json \
  | python3 -c 'import json, sys; r = json.load(sys.stdin)[0]; print(r["pipeline"] + "#" + str(r["number"]))')

echo "==> flowplan runs show $run"
flowplan runs show "$run"
echo "==> package.tgz holds"
tar -tzf ".flowplan/artifacts/greeter/${run#*#}/package.tgz" | sort

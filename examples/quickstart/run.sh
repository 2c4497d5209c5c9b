#!/usr/bin/env bash
# The quickstart, end to end: make the example app's git repository; validate, plan, apply, and
# plan again (which must show no changes); then run the pipeline, which waits for a release
# manager's approval, approve it, and show the run history and the deploy log.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -d .flowplan/app.git ]; then
  echo "==> creating the example app's git repository in .flowplan/app.git"
  work=$(mktemp -d)
  cp app/* "$work/"
  git -C "$work" init -q -b master
  git -C "$work" add .
  git -C "$work" -c user.name=quickstart -c user.email=quickstart@example.invalid \
    commit -q -m "The quickstart app"
  mkdir -p .flowplan
  git clone -q --bare "$work" .flowplan/app.git
  rm -rf "$work"
fi

echo "==> flowplan validate"
flowplan validate
echo "==> flowplan plan"
flowplan plan
echo "==> flowplan apply --auto-approve"
flowplan apply --auto-approve
echo "==> flowplan plan (again: expect no changes)"
flowplan plan --detailed-exitcode

echo "==> flowplan run quickstart (it stops at the release approval: exit code 4)"
set +e
flowplan run quickstart --branch master
status=$?
set -e
if [ "$status" -ne 4 ]; then
  echo "expected the run to wait for an approval (exit code 4), got $status" >&2
  exit 1
fi
run=$(flowplan runs quickstart --limit 1 --json \
  | python3 -c 'import json, sys; r = json.load(sys.stdin)[0]; print(r["pipeline"] + "#" + str(r["number"]))')

echo "==> flowplan approve $run --as release-manager"
flowplan approve "$run" --as release-manager --comment "approved by the quickstart"

echo "==> flowplan runs quickstart"
flowplan runs quickstart
echo "==> flowplan logs $run --task deploy"
flowplan logs "$run" --task deploy
echo "==> deployed: $(ls .flowplan/deployed/dev)"

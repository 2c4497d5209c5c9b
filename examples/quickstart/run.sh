#!/usr/bin/env bash
# The quickstart, end to end: make the example app's git repository, then validate, plan, apply,
# and plan again (which must show no changes).
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

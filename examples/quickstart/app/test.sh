#!/usr/bin/env bash
set -e
out=$(./app.sh)
[ "$out" = "Hello from ${APP_NAME:-hello}!" ] || { echo "unexpected output: $out"; exit 1; }
echo "1 passed, 0 failed"

#!/usr/bin/env bash
# "Deploys" the app by copying it to $DEPLOY_DIR/<environment>; the token is only checked.
set -e
environment=${1:?usage: deploy.sh ENVIRONMENT TOKEN}
token=${2:?usage: deploy.sh ENVIRONMENT TOKEN}
target="${DEPLOY_DIR:?DEPLOY_DIR is not set}/$environment"
mkdir -p "$target"
cp app.sh "$target/"
echo "deployed ${APP_NAME:-hello} to $environment using token $token"

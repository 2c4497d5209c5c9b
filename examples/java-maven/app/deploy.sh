#!/bin/sh
# Deploys the greeter: here, runs the jar packed next to this script.
set -e
cd "$(dirname "$0")"
java -cp target/greeter-1.0.0.jar demo.Greeter "${1:-deploy}"

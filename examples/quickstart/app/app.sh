#!/usr/bin/env bash
# The quickstart's "application": prints a greeting.
echo "Hello from ${APP_NAME:-hello}!"

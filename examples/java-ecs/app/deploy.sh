#!/usr/bin/env bash
# Runs the greeter on this machine: deploy.sh start | stop | restart | status
#
#   start    java -jar in the background (in a session of its own, so it outlives the shell or
#            CI step that started it), writes the pid file, and waits until GET /health answers
#            200; if it does not within GREETER_START_TIMEOUT seconds, or the process dies, it
#            prints the end of the log, stops what it started, and fails
#   stop     SIGTERM to the pid in the pid file (the service stops gracefully), SIGKILL if it is
#            still alive after GREETER_STOP_TIMEOUT seconds; removes the pid file
#   restart  stop, then start
#   status   exit 0 and say so when it runs and answers /health; 3 when it does not run; 1 when
#            it runs but does not answer
#
# Settings, from the environment:
#   GREETER_HOME           where the jar is: GREETER_HOME/target/greeter-*.jar or
#                          GREETER_HOME/greeter-*.jar (default: this script's directory)
#   GREETER_JAR            the jar itself, instead of looking in GREETER_HOME
#   GREETER_PORT           the port (default 8080)
#   GREETER_PID_FILE       default GREETER_HOME/greeter.pid
#   GREETER_LOG            the service's stdout and stderr, appended (default GREETER_HOME/greeter.log)
#   GREETER_START_TIMEOUT  seconds start waits for /health (default 30)
#   GREETER_STOP_TIMEOUT   seconds stop waits after SIGTERM (default 15)
#   GREETER_JAVA_OPTS      options for the JVM (default -Xmx128m)
#   JAVA_HOME              the JDK or JRE to run (default: java on PATH)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
home=${GREETER_HOME:-$here}
port=${GREETER_PORT:-8080}
pid_file=${GREETER_PID_FILE:-$home/greeter.pid}
log_file=${GREETER_LOG:-$home/greeter.log}
start_timeout=${GREETER_START_TIMEOUT:-30}
stop_timeout=${GREETER_STOP_TIMEOUT:-15}
java_opts=${GREETER_JAVA_OPTS:--Xmx128m}
java=${JAVA_HOME:+$JAVA_HOME/bin/}java

say() {
  echo "deploy.sh: $*"
}

fail() {
  echo "deploy.sh: $*" >&2
  exit 1
}

find_jar() {
  if [ -n "${GREETER_JAR:-}" ]; then
    [ -f "$GREETER_JAR" ] || fail "GREETER_JAR=$GREETER_JAR: no such file"
    echo "$GREETER_JAR"
    return
  fi
  local candidate
  for candidate in "$home"/target/greeter-*.jar "$home"/greeter-*.jar; do
    if [ -f "$candidate" ]; then
      echo "$candidate"
      return
    fi
  done
  fail "no greeter-*.jar in $home/target or $home (build it with mvn package, or set GREETER_JAR)"
}

# The pid in the pid file when that process is alive and is a java running a greeter jar;
# nothing otherwise (no file, a stale pid, or a pid now used by another program).
running_pid() {
  local pid
  [ -f "$pid_file" ] || return 0
  pid=$(tr -dc '0-9' <"$pid_file")
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'greeter'; then
    return 0
  fi
  echo "$pid"
}

# The HTTP status of GET /health on the port, or 000 when nothing answers.
health_status() {
  local url="http://127.0.0.1:$port/health"
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true
    return
  fi
  # No curl: plain HTTP over bash's /dev/tcp, in a subshell so a refused connection cannot end
  # this script.
  (
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 0
    printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    line=""
    IFS= read -r -t 2 line <&3 || true
    read -r _ code _ <<<"${line%$'\r'}" || true
    echo "${code:-}"
  ) 2>/dev/null | grep -E '^[0-9]{3}$' || echo 000
}

log_tail() {
  if [ -f "$log_file" ]; then
    echo "--- last lines of $log_file ---" >&2
    tail -n 20 "$log_file" >&2
  fi
}

start() {
  local pid jar deadline status
  pid=$(running_pid)
  if [ -n "$pid" ]; then
    say "greeter is already running (pid $pid)"
    return 0
  fi
  jar=$(find_jar)
  status=$(health_status)
  if [ "$status" != 000 ]; then
    fail "something else already answers on port $port (GET /health: $status; not the pid in" \
      "$pid_file): stop it, or choose another GREETER_PORT"
  fi
  mkdir -p "$(dirname "$pid_file")" "$(dirname "$log_file")"
  say "starting $jar on port $port (log: $log_file)"
  # setsid: a session of its own, so stopping the caller's process group (a CI step ending)
  # leaves the service running; no stdin, output to the log, so nothing holds the caller's pipes.
  # shellcheck disable=SC2086  # GREETER_JAVA_OPTS holds several words on purpose
  setsid nohup "$java" $java_opts -jar "$jar" --port "$port" </dev/null >>"$log_file" 2>&1 &
  pid=$!
  echo "$pid" >"$pid_file"

  deadline=$((SECONDS + start_timeout))
  while true; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pid_file"
      log_tail
      fail "greeter (pid $pid) exited during start"
    fi
    status=$(health_status)
    if [ "$status" = 200 ]; then
      say "greeter is up (pid $pid): http://127.0.0.1:$port/health answered 200"
      return 0
    fi
    if [ "$SECONDS" -gt "$deadline" ]; then
      log_tail
      stop_pid "$pid"
      rm -f "$pid_file"
      fail "greeter (pid $pid) did not answer http://127.0.0.1:$port/health within" \
        "${start_timeout}s (last status: $status)"
    fi
    sleep 0.2
  done
}

# SIGTERM, wait up to stop_timeout seconds, then SIGKILL.
stop_pid() {
  local pid=$1 deadline=$((SECONDS + stop_timeout))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -gt "$deadline" ]; then
      say "greeter (pid $pid) still runs after ${stop_timeout}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      return 0
    fi
    sleep 0.2
  done
}

stop() {
  local pid
  pid=$(running_pid)
  if [ -z "$pid" ]; then
    rm -f "$pid_file"
    say "greeter is not running"
    return 0
  fi
  say "stopping greeter (pid $pid)"
  stop_pid "$pid"
  rm -f "$pid_file"
  say "greeter stopped"
}

status() {
  local pid code
  pid=$(running_pid)
  if [ -z "$pid" ]; then
    say "greeter is not running"
    return 3
  fi
  code=$(health_status)
  if [ "$code" != 200 ]; then
    say "greeter runs (pid $pid) but http://127.0.0.1:$port/health answered $code"
    return 1
  fi
  say "greeter is running (pid $pid, port $port): /health ok"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart)
    stop
    start
    ;;
  status) status ;;
  *)
    echo "usage: deploy.sh start|stop|restart|status" >&2
    exit 2
    ;;
esac

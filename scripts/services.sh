#!/usr/bin/env bash
# Starts every real server the tests need that is not already running, the way
# ../shared/SERVICES.md describes: PostgreSQL, Redis, RabbitMQ, and a MongoDB-wire server
# (SecantusDB, installed from PyPI into a virtualenv that outlives the clone).
# Prints the environment the tests read (TEST_PYTHON).
set -euo pipefail

VENV="${PLATFORM_VENV:-$HOME/.cache/platform-venv}"
REQS="$(cd "$(dirname "$0")" && pwd)/requirements-test.txt"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 120); do
    listening "$port" && return 0
    sleep 0.5
  done
  echo "error: $name did not start listening on 127.0.0.1:$port" >&2
  return 1
}

if ! listening 5432; then
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  wait_port 5432 PostgreSQL
fi

if ! listening 6379; then
  echo "starting Redis" >&2
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 Redis
fi

if ! listening 5672; then
  echo "starting RabbitMQ" >&2
  rabbitmq-server -detached
  rabbitmqctl await_startup >/dev/null
  wait_port 5672 RabbitMQ
fi

# The virtualenv is reused while its requirements are unchanged.
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$REQS" "$VENV/.requirements"; then
  echo "installing test tools into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
  cp "$REQS" "$VENV/.requirements"
fi

if ! listening 27017; then
  echo "starting SecantusDB (MongoDB wire protocol)" >&2
  mkdir -p /tmp/secantus-data
  setsid "$VENV/bin/secantusd-py" --host 127.0.0.1 --port 27017 --storage-path /tmp/secantus-data \
    >/tmp/secantusd.log 2>&1 < /dev/null &
  wait_port 27017 SecantusDB
fi

echo "TEST_PYTHON=$VENV/bin/python"

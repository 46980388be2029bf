#!/usr/bin/env bash
# Starts the local RabbitMQ when it is not running (installing Debian's package if it is missing).
set -euo pipefail
if rabbitmq-diagnostics -q ping >/dev/null 2>&1; then exit 0; fi
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
fi
echo "starting RabbitMQ..."
rabbitmq-server -detached >/dev/null 2>&1 || true
for _ in $(seq 1 60); do
  if rabbitmq-diagnostics -q ping >/dev/null 2>&1; then echo "RabbitMQ is up"; exit 0; fi
  sleep 1
done
echo "RabbitMQ did not start" >&2
exit 1

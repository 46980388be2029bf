#!/usr/bin/env bash
# The embedded stack with demo data and GraphiQL (RabbitMQ when reachable, else an in-process bus).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-dev --inexact  # --inexact: a developer's test tools stay installed
scripts/ensure_rabbitmq.sh || echo "RabbitMQ unavailable: the stack uses its in-process event bus"
exec .venv/bin/python -m devstack

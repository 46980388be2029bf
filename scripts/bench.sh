#!/usr/bin/env bash
# Latency benchmarks against the embedded stack; prints a table of medians, p99s and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/ensure_rabbitmq.sh || true
.venv/bin/python -m devstack.bench "$@"
exec .venv/bin/python -m devstack.bench_gateway

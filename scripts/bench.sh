#!/usr/bin/env bash
# Latency benchmarks against the embedded stack; prints the tables README.md's "Reading the bench" explains.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/ensure_rabbitmq.sh || true
.venv/bin/python -m devstack.bench "$@"
.venv/bin/python -m devstack.bench_execution
exec .venv/bin/python -m devstack.bench_gateway

#!/usr/bin/env bash
# Everything CI checks: setup, lint, format, types, the schema and deploy files, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/ensure_rabbitmq.sh
scripts/install_test_clients.sh
echo "== ruff";   .venv/bin/ruff check .
echo "== format"; .venv/bin/ruff format --check .
echo "== mypy";   .venv/bin/mypy portalkit services gateway devstack
echo "== deploy"; deploy/validate.sh
echo "== tests";  .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Offline validation of the distributed-run files (no Docker engine is needed).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker-compose >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose) >/dev/null 2>&1 || true
  fi
fi
if command -v docker-compose >/dev/null 2>&1; then
  docker-compose -f docker-compose.yml config -q
  echo "docker-compose.yml: valid (docker-compose config)"
else
  echo "docker-compose not available: structure is still checked by tests/test_deploy_files.py"
fi

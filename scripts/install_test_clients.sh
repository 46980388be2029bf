#!/usr/bin/env bash
# Installs the outside clients the tests run against the gateway (graphql-http's audits, Apollo
# Client, graphql-ws) from the npm registry, pinned by tests/clients/package-lock.json.
# Idempotent: does nothing while node_modules is newer than the lock.
set -euo pipefail
cd "$(dirname "$0")/../tests/clients"
if [ -d node_modules/graphql-http ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
if ! npm ci --no-audit --no-fund --loglevel=error 2> >(grep -v "Unknown user config" >&2); then
  echo "install_test_clients: npm ci failed (is the npm registry reachable?)" >&2
  exit 1
fi

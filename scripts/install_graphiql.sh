#!/usr/bin/env bash
# Installs GraphiQL's browser bundles from the npm registry (pinned by package-lock.json) into
# gateway/graphiql/node_modules, which the gateway serves: GraphiQL then works with no internet.
# Idempotent: does nothing while node_modules is newer than the lock.
set -euo pipefail
cd "$(dirname "$0")/../gateway/graphiql"
if ! command -v npm >/dev/null 2>&1; then
  echo "install_graphiql: npm is needed to install GraphiQL's assets (Debian: apt-get install -y npm)" >&2
  exit 1
fi
if [ -f node_modules/graphiql/graphiql.min.js ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
# Drop npm's warning about this machine's npmrc, keep everything else (and npm's exit status).
if ! npm ci --no-audit --no-fund --omit=dev --loglevel=error 2> >(grep -v "Unknown user config" >&2); then
  echo "install_graphiql: npm ci failed (is the npm registry reachable?)" >&2
  exit 1
fi
if [ ! -f node_modules/graphiql/graphiql.min.js ]; then
  echo "install_graphiql: node_modules/graphiql/graphiql.min.js is missing after npm ci" >&2
  exit 1
fi

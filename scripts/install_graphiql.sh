#!/usr/bin/env bash
# Installs GraphiQL's browser bundles from the npm registry (pinned by package-lock.json) into
# gateway/graphiql/node_modules, which the gateway serves: GraphiQL then works with no internet.
set -euo pipefail
cd "$(dirname "$0")/../gateway/graphiql"
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is needed to install GraphiQL's assets (Debian: apt-get install -y npm)" >&2
  exit 1
fi
if [ -d node_modules/graphiql ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
npm ci --no-audit --no-fund --omit=dev --loglevel=error 2>&1 | grep -v "Unknown user config" || true
test -f node_modules/graphiql/graphiql.min.js

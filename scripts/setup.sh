#!/usr/bin/env bash
# Sets up a fresh machine: uv, the locked virtualenv, generated gRPC code, GraphiQL's assets.
# Idempotent; every other command starts with it.
set -euo pipefail
cd "$(dirname "$0")/.."
export SSL_CERT_FILE="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
UV_VERSION=0.13.9
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
uv sync --frozen --quiet "$@"
scripts/gen_protos.sh >/dev/null
scripts/install_graphiql.sh

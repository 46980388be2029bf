#!/usr/bin/env bash
# Offline validation of docker-compose.yml, for CI and by hand: no Docker engine is needed.
# Uses `docker compose` (v2 plugin) when present, else `docker-compose` (Debian's package, v1,
# installed here when missing and apt-get is available). Both check the file against the Compose
# schema (unknown keys, wrong types, bad depends_on conditions, undefined anchors) and interpolate
# variables. The structure that the schema cannot know (one database per service, health checks,
# variable names, the collector pipelines, the Kubernetes manifests) is checked by
# tests/test_deploy_files.py.
set -euo pipefail
cd "$(dirname "$0")/.."

compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  if ! command -v docker-compose >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's docker-compose to validate docker-compose.yml" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose) \
      >/dev/null 2>&1 || echo "could not install docker-compose" >&2
  fi
  if command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
  fi
fi

if [ ${#compose[@]} -eq 0 ]; then
  echo "deploy/validate.sh: no docker compose / docker-compose here: docker-compose.yml not schema-checked" \
    "(tests/test_deploy_files.py still checks its structure)"
  exit 0
fi

# --profile seed: the one-shot seed service is validated too.
"${compose[@]}" -f docker-compose.yml --profile seed config -q
echo "docker-compose.yml: valid (${compose[*]} $("${compose[@]}" version --short 2>/dev/null || true): config -q)"

# The Kubernetes manifests build with kustomize (offline; no cluster is contacted).
if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize deploy/k8s >/dev/null
  echo "deploy/k8s: kustomize build ok"
fi

#!/usr/bin/env bash
# Generates Python code (+ mypy stubs) next to each .proto; imports become `protos.<svc>.v1...`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
find protos -name '*_pb2*.py*' -delete
"$PY" -m grpc_tools.protoc -I. --plugin=protoc-gen-mypy="$(dirname "$PY")/protoc-gen-mypy" --python_out=. --grpc_python_out=. --mypy_out=. protos/*/v1/*.proto

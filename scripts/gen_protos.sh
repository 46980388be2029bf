#!/usr/bin/env bash
# Generates Python code next to each .proto (imports become `protos.<svc>.v1...`), plus mypy stubs
# when mypy-protobuf (a dev dependency) is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
find protos \( -name '*_pb2.py' -o -name '*_pb2_grpc.py' -o -name '*_pb2.pyi' \) -delete
stubs=()
plugin="$(dirname "$PY")/protoc-gen-mypy"
if [ -x "$plugin" ]; then stubs=(--plugin=protoc-gen-mypy="$plugin" --mypy_out=quiet:.); fi
"$PY" -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. "${stubs[@]}" protos/*/v1/*.proto

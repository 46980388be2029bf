"""Container health check: `python deploy/healthcheck.py grpc PORT` or `python deploy/healthcheck.py http URL`."""

from __future__ import annotations

import sys
import urllib.request


def main(kind: str, target: str) -> int:
    if kind == "grpc":
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with grpc.insecure_channel(f"127.0.0.1:{target}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1
    with urllib.request.urlopen(target, timeout=2) as response:  # noqa: S310 - fixed local URL
        return 0 if response.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

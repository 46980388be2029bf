"""Container health check (grpc_health_probe is not on PyPI, so this uses grpcio's health stub).

    python deploy/healthcheck.py grpc PORT [HOST]   # grpc.health.v1 Check of the server (service ""): SERVING?
    python deploy/healthcheck.py http URL           # HTTP 200? (the gateway's /readyz)

Exit 0 when healthy, 1 otherwise, with one line on stderr saying why (docker keeps it in
`docker inspect`).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 2.0


def check_grpc(port: str, host: str = "127.0.0.1") -> str | None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with grpc.insecure_channel(f"{host}:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_SECONDS
            )
    except grpc.RpcError as error:
        return f"gRPC health check of {host}:{port} failed: {error.code().name}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{host}:{port} is {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return None


def check_http(url: str) -> str | None:
    if not url.startswith(("http://", "https://")):
        return f"not an HTTP URL: {url}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - scheme checked above
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        return f"GET {url} failed: {error}"
    return None if status == 200 else f"GET {url} answered {status}"


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "grpc":
        problem = check_grpc(*argv[1:3])
    elif len(argv) == 2 and argv[0] == "http":
        problem = check_http(argv[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

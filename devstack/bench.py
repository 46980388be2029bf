"""`python -m devstack.bench`: latency of the embedded stack, as a table of medians, p99s and ratios.

Same process, loopback, 2-core machine: compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import grpc.aio
import httpx

from devstack.embedded import start_stack
from portalkit.telemetry import setup_logging, setup_telemetry
from protos.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.demo import DEMO_PASSWORD, load_demo

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken user { id } } }"


async def measure(call: Callable[[], Awaitable[object]], runs: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def p99(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.99) - 1)]


async def main(runs: int) -> None:
    os.environ.setdefault("PORTAL_LOG_LEVEL", "WARNING")
    stack = await start_stack({"mail_dir": ".bench/mail", "argon2_profile": "standard"})
    try:
        await load_demo(stack.services["identity"].domain)
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
            login = (
                await http.post(
                    "/graphql", json={"query": LOGIN, "variables": {"e": "user@acme.test", "p": DEMO_PASSWORD}}
                )
            ).json()
            token = login["data"]["login"]["accessToken"]
            user_id = login["data"]["login"]["user"]["id"]
            headers = {"Authorization": f"Bearer {token}"}

            async def gateway_me() -> object:
                response = await http.post("/graphql", json={"query": "{ me { id email role } }"}, headers=headers)
                assert response.status_code == 200 and "errors" not in response.json()
                return response

            def reset(email: str) -> Callable[[], Awaitable[object]]:
                body = {"query": "mutation($e: String!) { requestPasswordReset(email: $e) }", "variables": {"e": email}}
                return lambda: http.post("/graphql", json=body)

            async with grpc.aio.insecure_channel(stack.address("identity")) as channel:
                stub = identity_pb2_grpc.IdentityServiceStub(channel)
                metadata = (("authorization", f"Bearer {token}"),)

                async def grpc_get_user() -> object:
                    return await stub.GetUser(identity_pb2.GetUserRequest(id=user_id), metadata=metadata, timeout=5)

                rows = [
                    ("me via gateway (HTTP+GraphQL+gRPC)", await measure(gateway_me, runs)),
                    ("GetUser direct gRPC", await measure(grpc_get_user, runs)),
                    ("requestPasswordReset, known email", await measure(reset("user@acme.test"), runs // 3)),
                    ("requestPasswordReset, unknown email", await measure(reset("nobody@acme.test"), runs // 3)),
                ]
    finally:
        await stack.stop()

    print(f"\n{'operation':<40} {'runs':>5} {'median ms':>10} {'p99 ms':>9}")
    for name, samples in rows:
        print(f"{name:<40} {len(samples):>5} {statistics.median(samples):>10.2f} {p99(samples):>9.2f}")
    medians = {name: statistics.median(samples) for name, samples in rows}
    print(f"\nratio me-via-gateway / GetUser-direct (median): {medians[rows[0][0]] / medians[rows[1][0]]:.2f}")
    print(f"ratio p99: {p99(rows[0][1]) / p99(rows[1][1]):.2f}")
    print(
        f"ratio reset known / unknown (median; ~1 means no user enumeration by timing): "
        f"{medians[rows[2][0]] / medians[rows[3][0]]:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    setup_logging("WARNING")
    setup_telemetry("portal-bench")
    asyncio.run(main(args.runs))

"""`python -m devstack.bench_gateway`: what the gateway costs, measured on the gateway alone.

The services run in this process (the embedded stack); the gateway runs as its own process
(`python -m gateway`, as deployed), so its CPU time per request is read from /proc for that process
only. Each query shape is measured at 1 and 32 concurrent clients and compared with the same reads
made directly over gRPC from this process. Figures move with the machine: read the ratios.

Columns: rps; p50/p99 latency (ms); gateway CPU ms per request; gateway RSS (MB); gRPC calls the
services served per request; and p50 / rps ratios against the direct reads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc.aio
import httpx
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from devstack.embedded import start_stack
from portalkit.telemetry import setup_logging, setup_telemetry
from protos.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.demo import DEMO_PASSWORD, load_demo

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"
SHAPES = {
    "get": "{ me { id email } }",
    "page of 50 users + account": "{ users(first: 50) { edges { node { id email account { name } } } } }",
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):  # noqa: SIM115
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def served_calls(reader: InMemoryMetricReader) -> int:
    data = reader.get_metrics_data()
    total = 0
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "rpc.server.duration":
                    total += sum(int(getattr(p, "count", 0)) for p in metric.data.data_points)
    return total


async def run(call: Callable[[], Awaitable[Any]], requests: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, requests / (time.perf_counter() - started)


async def main(requests: int, shapes: list[str]) -> None:
    reader = InMemoryMetricReader()
    setup_telemetry("portal-bench", metric_readers=[reader])
    stack = await start_stack({"mail_dir": ".bench/mail", "argon2_profile": "fast"})
    gateway: subprocess.Popen[bytes] | None = None
    try:
        identity = stack.services["identity"].domain
        logins = await load_demo(identity)
        admin = next(login for login in logins if login.email == "admin@acme.test")
        port = free_port()
        env = {
            **os.environ,
            "PORTAL_GATEWAY_PORT": str(port),
            "PORTAL_LOG_LEVEL": "WARNING",
            **{f"PORTAL_{name.upper()}_GRPC_ADDR": stack.address(name) for name in stack.services},
        }
        gateway = subprocess.Popen([sys.executable, "-m", "gateway"], env=env)  # noqa: ASYNC220 - runs beside the loop
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(200):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            token = (
                await http.post("/graphql", json={"query": LOGIN, "variables": {"e": admin.email, "p": DEMO_PASSWORD}})
            ).json()["data"]["login"]["accessToken"]
            headers = {"Authorization": f"Bearer {token}"}
            await seed_users(http, headers)

            def via_gateway(query: str) -> Callable[[], Awaitable[Any]]:
                async def call() -> Any:
                    response = await http.post("/graphql", json={"query": query}, headers=headers)
                    assert response.status_code == 200 and b'"errors"' not in response.content, response.text
                    return response

                return call

            async with grpc.aio.insecure_channel(stack.address("identity")) as channel:
                stub = identity_pb2_grpc.IdentityServiceStub(channel)
                metadata = (("authorization", f"Bearer {token}"),)

                async def direct_get() -> Any:
                    return await stub.GetMe(identity_pb2.GetMeRequest(), metadata=metadata, timeout=5)

                async def direct_page() -> Any:
                    page = await stub.ListUsers(
                        identity_pb2.ListUsersRequest(page_size=50), metadata=metadata, timeout=5
                    )
                    ids = sorted({u.account_id for u in page.users if u.account_id})
                    return await stub.BatchGetAccounts(
                        identity_pb2.BatchGetAccountsRequest(ids=ids), metadata=metadata, timeout=5
                    )

                direct = {"get": direct_get, "page of 50 users + account": direct_page}
                rows = []
                for shape, query in SHAPES.items():
                    if shapes and shape not in shapes:
                        continue
                    call = via_gateway(query)
                    await run(call, 50, 4)  # warm: caches, channels, keys
                    for concurrency in (1, 32):
                        count = requests if concurrency == 32 else requests // 2
                        before_cpu, before_calls = cpu_seconds(gateway.pid), served_calls(reader)
                        latencies, rps = await run(call, count, concurrency)
                        cpu_ms = (cpu_seconds(gateway.pid) - before_cpu) * 1000 / count
                        calls = (served_calls(reader) - before_calls) / count
                        rss = rss_mb(gateway.pid)
                        await run(direct[shape], 20, 4)
                        direct_latencies, direct_rps = await run(direct[shape], count, concurrency)
                        rows.append(
                            (shape, concurrency, rps, latencies, cpu_ms, rss, calls, direct_latencies, direct_rps)
                        )
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(10)
        await stack.stop()

    print(
        f"\n{'shape':<28} {'conc':>4} {'rps':>7} {'p50 ms':>7} {'p99 ms':>7} {'gw CPU ms':>9} {'RSS MB':>7}"
        f" {'calls':>5} {'p50/direct':>10} {'rps/direct':>10}"
    )
    for shape, conc, rps, lat, cpu_ms, rss, calls, dlat, drps in rows:
        p50, p99 = statistics.median(lat), sorted(lat)[int(len(lat) * 0.99) - 1]
        print(
            f"{shape:<28} {conc:>4} {rps:>7.0f} {p50:>7.2f} {p99:>7.2f} {cpu_ms:>9.2f} {rss:>7.0f} {calls:>5.1f}"
            f" {p50 / statistics.median(dlat):>10.2f} {rps / drps:>10.2f}"
        )


async def seed_users(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """Enough users in Acme for a page of 50 (invited through the public API, once)."""
    query = "{ users(first: 1) { totalCount } }"
    have = (await http.post("/graphql", json={"query": query}, headers=headers)).json()["data"]["users"]["totalCount"]
    mutation = "mutation($rows: [InviteUserInput!]!) { inviteUsers(input: $rows) { error } }"
    for batch in range(max(0, 60 - have) // 20 + 1):
        rows = [{"email": f"bench.{batch}.{n}.{time.time_ns()}@acme.test", "name": "Bench User"} for n in range(20)]
        await http.post("/graphql", json={"query": mutation, "variables": {"rows": rows}}, headers=headers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--shape", action="append", choices=list(SHAPES), help="only these shapes (default: all)")
    args = parser.parse_args()
    setup_logging("WARNING")
    asyncio.run(main(args.requests, args.shape or []))

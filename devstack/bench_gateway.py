"""`python -m devstack.bench_gateway`: what the gateway costs, measured on the gateway alone.

Three processes, as deployed: the services (the embedded stack, in this process), the gateway
(`python -m gateway`) and the load generator (devstack/bench_load.py), so the gateway's CPU time per
request is read from /proc for that process only and the clients take CPU from neither. Each query
shape is measured at 1 and 32 concurrent clients and compared with the same reads made directly over
gRPC by the same load process, in interleaved rounds (`--rounds`, 3: gateway, direct, gateway, ...)
whose latencies are pooled. Figures move with the machine: read the ratios.
`--concurrency` picks client counts (default 1 and 32), `--shape` the shapes.

Columns: rps; p50/p99 latency (ms); gateway CPU ms per request; the services' CPU ms per request
(this process) behind the gateway / for the direct reads; the load process's CPU ms per request, as an HTTP client of the gateway / as a gRPC
client of the service (what a caller pays on its side of each path); gateway RSS (MB); gRPC calls
the services served per request; p50 / rps ratios against the direct reads; and the floor
(devstack/bench_floor.py: the same calls behind a bare ASGI app, no GraphQL, measured in the same
rounds): its CPU ms per request and its p50 / rps ratios against the direct reads.
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

import httpx
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from devstack.bench_load import SHAPES, Load, Measurement
from devstack.embedded import start_stack
from portalkit.telemetry import setup_logging, setup_telemetry
from services.identity.demo import DEMO_PASSWORD, load_demo

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"
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


async def wait_healthy(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        for _ in range(200):
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy")


def pooled(rounds: list[Measurement]) -> Measurement:
    """The rounds as one measurement: every latency, and the rate over their summed durations."""
    requests = sum(len(m.latencies_ms) for m in rounds)
    seconds = sum(len(m.latencies_ms) / m.rps for m in rounds)
    return Measurement([lat for m in rounds for lat in m.latencies_ms], requests / seconds)


async def main(requests: int, shapes: list[str], rounds: int, concurrencies: list[int]) -> None:
    reader = InMemoryMetricReader()
    setup_telemetry("portal-bench", metric_readers=[reader])
    stack = await start_stack({"mail_dir": ".bench/mail", "argon2_profile": "fast"})
    processes: list[subprocess.Popen[bytes]] = []
    try:
        identity = stack.services["identity"].domain
        logins = await load_demo(identity)
        admin = next(login for login in logins if login.email == "admin@acme.test")
        port, floor_port = free_port(), free_port()
        env = {
            **os.environ,
            "PORTAL_GATEWAY_PORT": str(port),
            "PORTAL_LOG_LEVEL": "WARNING",
            **{f"PORTAL_{name.upper()}_GRPC_ADDR": stack.address(name) for name in stack.services},
        }
        # BENCH_GATEWAY_CMD: the gateway's command line after the interpreter (e.g. under a profiler)
        command = os.environ.get("BENCH_GATEWAY_CMD", "-m gateway").split()
        gateway = subprocess.Popen([sys.executable, *command], env=env)  # noqa: ASYNC220, S603 - runs beside the loop; the operator's own command
        processes.append(gateway)
        floor_env = {**env, "PORTAL_GATEWAY_PORT": str(floor_port)}
        floor = subprocess.Popen([sys.executable, "-m", "devstack.bench_floor"], env=floor_env)  # noqa: ASYNC220
        processes.append(floor)
        await wait_healthy(f"http://127.0.0.1:{floor_port}")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            await wait_healthy(f"http://127.0.0.1:{port}")
            token = (
                await http.post("/graphql", json={"query": LOGIN, "variables": {"e": admin.email, "p": DEMO_PASSWORD}})
            ).json()["data"]["login"]["accessToken"]
            headers = {"Authorization": f"Bearer {token}"}
            await seed_users(http, headers)
            await seed_cases(http, headers)
            await same_answers(http, f"http://127.0.0.1:{floor_port}", headers)
        addresses = {name: stack.address(name) for name in ("identity", "cases")}
        load = Load(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{floor_port}", addresses, token)
        rows = []
        try:
            for shape in SHAPES:
                if shapes and shape not in shapes:
                    continue
                await load.measure("gateway", shape, 50, 4)  # warm: caches, channels, keys
                await load.measure("floor", shape, 50, 4)
                await load.measure("direct", shape, 20, 4)
                for concurrency in concurrencies:
                    count = (requests if concurrency == 32 else requests // 2) // rounds
                    gateway_s = services_s = services_direct_s = client_http_s = client_grpc_s = floor_s = 0.0
                    calls = 0.0
                    throughs, floors, directs = [], [], []
                    for _ in range(rounds):  # interleaved, so a drift of the machine touches both alike
                        gateway_before, services_before = cpu_seconds(gateway.pid), time.process_time()
                        calls_before, client_before = served_calls(reader), cpu_seconds(load.pid)
                        throughs.append(await load.measure("gateway", shape, count, concurrency))
                        gateway_s += cpu_seconds(gateway.pid) - gateway_before
                        services_s += time.process_time() - services_before
                        calls += served_calls(reader) - calls_before
                        client_http_s += cpu_seconds(load.pid) - client_before
                        floor_before = cpu_seconds(floor.pid)
                        floors.append(await load.measure("floor", shape, count, concurrency))
                        floor_s += cpu_seconds(floor.pid) - floor_before
                        client_before, services_before = cpu_seconds(load.pid), time.process_time()
                        directs.append(await load.measure("direct", shape, count, concurrency))
                        client_grpc_s += cpu_seconds(load.pid) - client_before
                        services_direct_s += time.process_time() - services_before
                    total = count * rounds
                    through, floor_through, direct = pooled(throughs), pooled(floors), pooled(directs)
                    gateway_ms = gateway_s * 1000 / total
                    services = f"{services_s * 1000 / total:.2f}/{services_direct_s * 1000 / total:.2f}"
                    rss = rss_mb(gateway.pid)
                    client = f"{client_http_s * 1000 / total:.2f}/{client_grpc_s * 1000 / total:.2f}"
                    floor_ms = floor_s * 1000 / total
                    figures = (through, gateway_ms, services, client, rss, calls / total, direct)
                    rows.append((shape, concurrency, *figures, floor_through, floor_ms))
        finally:
            load.stop()
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        await stack.stop()

    print(
        f"\n{'shape':<28} {'conc':>4} {'rps':>7} {'p50 ms':>7} {'p99 ms':>7} {'gw CPU ms':>9} {'svc CPU':>9}"
        f" {'client CPU':>10} {'RSS MB':>7} {'calls':>5} {'p50/direct':>10} {'rps/direct':>10}"
        f" {'floor CPU':>9} {'floor p50/d':>11} {'floor rps/d':>11}"
    )
    for shape, conc, through, gateway_ms, services, client, rss, calls, direct, floor_through, floor_ms in rows:
        lat = through.latencies_ms
        p50, p99 = statistics.median(lat), sorted(lat)[int(len(lat) * 0.99) - 1]
        direct_p50 = statistics.median(direct.latencies_ms)
        print(
            f"{shape:<28} {conc:>4} {through.rps:>7.0f} {p50:>7.2f} {p99:>7.2f} {gateway_ms:>9.2f} {services:>9}"
            f" {client:>10} {rss:>7.0f} {calls:>5.1f} {p50 / direct_p50:>10.2f} {through.rps / direct.rps:>10.2f}"
            f" {floor_ms:>9.2f} {statistics.median(floor_through.latencies_ms) / direct_p50:>11.2f}"
            f" {floor_through.rps / direct.rps:>11.2f}"
        )


async def seed_users(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """Enough users in Acme for a page of 50 (invited through the public API, once)."""
    query = "{ users(first: 1) { totalCount } }"
    have = (await http.post("/graphql", json={"query": query}, headers=headers)).json()["data"]["users"]["totalCount"]
    mutation = "mutation($rows: [InviteUserInput!]!) { inviteUsers(input: $rows) { error } }"
    for batch in range(max(0, 60 - have) // 20 + 1):
        rows = [{"email": f"bench.{batch}.{n}.{time.time_ns()}@acme.test", "name": "Bench User"} for n in range(20)]
        await http.post("/graphql", json={"query": mutation, "variables": {"rows": rows}}, headers=headers)


async def same_answers(gateway: httpx.AsyncClient, floor_url: str, headers: dict[str, str]) -> None:
    """The floor answers each shape with the gateway's data, full pages included, or the bench stops:
    a floor that skipped work would flatter Python's own cost."""
    async with httpx.AsyncClient(base_url=floor_url, timeout=30) as floor:
        for shape, query in SHAPES.items():
            through = (await gateway.post("/graphql", json={"query": query}, headers=headers)).json()
            bare = (await floor.post("/graphql", json={"query": query}, headers=headers)).json()
            (answer,) = through["data"].values()
            if through != bare or ("edges" in answer and len(answer["edges"]) != 50):
                raise RuntimeError(f"{shape}: the floor's answer differs from the gateway's, or a page is short")


async def seed_cases(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """Enough cases opened by Acme's admin for a page of 50, one or two comments on each (through the
    public API, once)."""
    query = "{ cases(first: 1) { totalCount } }"
    have = (await http.post("/graphql", json={"query": query}, headers=headers)).json()["data"]["cases"]["totalCount"]
    mutation = "mutation($input: CreateCaseInput!) { createCase(input: $input) { id } }"
    for n in range(max(0, 55 - have)):
        case = {"subject": f"Bench case {n}", "description": "Opened by the gateway bench."}
        answer = await http.post("/graphql", json={"query": mutation, "variables": {"input": case}}, headers=headers)
        if answer.status_code != 200 or "errors" in answer.json():
            raise RuntimeError(f"seeding cases: {answer.text[:300]}")
    # and a comment or two on each case of the page, for the comment counts
    query = "{ cases(first: 50) { edges { node { id comments(first: 1) { totalCount } } } } }"
    page = (await http.post("/graphql", json={"query": query}, headers=headers)).json()["data"]["cases"]["edges"]
    mutation = "mutation($c: ID!, $b: String!) { addCaseComment(caseId: $c, body: $b) { id } }"
    for n, edge in enumerate(page):
        for _ in range(1 + n % 2 - edge["node"]["comments"]["totalCount"]):
            variables = {"c": edge["node"]["id"], "b": "A comment from the gateway bench."}
            answer = await http.post("/graphql", json={"query": mutation, "variables": variables}, headers=headers)
            if answer.status_code != 200 or "errors" in answer.json():
                raise RuntimeError(f"seeding comments: {answer.text[:300]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved gateway/direct rounds per row")
    parser.add_argument("--shape", action="append", choices=list(SHAPES), help="only these shapes (default: all)")
    parser.add_argument("--concurrency", action="append", type=int, help="only these client counts (default: 1 and 32)")
    args = parser.parse_args()
    setup_logging("WARNING")
    asyncio.run(main(args.requests, args.shape or [], args.rounds, args.concurrency or [1, 32]))

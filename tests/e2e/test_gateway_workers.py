"""`python -m gateway` with PORTAL_GATEWAY_WORKERS=2: two worker processes share the port, each with
its own live-event queue on the broker, so every subscription gets its events whichever worker holds
its connection; queries are served by both."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import websockets

from tests.support.mailbox import free_port

ROOT = Path(__file__).resolve().parents[2]
PUBLISH = "mutation($i: PublishAnnouncementInput!) { publishAnnouncement(input: $i) { id title } }"


def _workers(pid: int) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        children = [int(child) for child in listing.read().split()]
    workers = []
    for child in children:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                if b"spawn_main" in cmdline.read():
                    workers.append(child)
        except FileNotFoundError:
            pass
    return workers


def _live_queues(vhost: str) -> list[str]:
    tool = shutil.which("rabbitmqctl")
    if tool is None or not vhost:
        return []
    listed = subprocess.run(
        [tool, "-q", "list_queues", "-p", vhost, "name"], capture_output=True, text=True, timeout=60
    ).stdout.split()
    return [name for name in listed if name.startswith("gateway.live.") and not name.endswith(".retry")]


async def _until(check, what: str, seconds: float = 30.0):  # type: ignore[no-untyped-def]
    for _ in range(int(seconds * 10)):
        found = check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def two_workers(stack, direct_amqp_url):  # type: ignore[no-untyped-def]
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PORTAL_"))},
        "PORTAL_GATEWAY_PORT": str(port),
        "PORTAL_GATEWAY_WORKERS": "2",
        "PORTAL_AMQP_URL": direct_amqp_url,
        "PORTAL_LOG_LEVEL": "WARNING",
        **{f"PORTAL_{name.upper()}_GRPC_ADDR": stack.address(name) for name in stack.services},
    }
    process = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=ROOT, env=env)  # noqa: ASYNC220
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


async def test_two_workers_serve_and_each_delivers_live_events(two_workers, vhost, tokens, gql):
    process, url = two_workers
    before = set(_live_queues(vhost))
    async with httpx.AsyncClient(base_url=url, timeout=20) as http:

        async def ready() -> bool:
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        for _ in range(300):
            if await ready():
                break
            await asyncio.sleep(0.1)
        await _until(lambda: len(_workers(process.pid)) == 2, "two workers")
        if vhost:  # each worker listens on a live queue of its own
            await _until(lambda: len(set(_live_queues(vhost)) - before) == 2, "a live queue per worker")

        user = await tokens("user@acme.test")
        for _ in range(6):  # new connections: the workers share the listening socket
            async with httpx.AsyncClient(base_url=url, timeout=20) as fresh:
                answer = (
                    await fresh.post(
                        "/graphql", json={"query": "{ me { email } }"}, headers={"Authorization": f"Bearer {user}"}
                    )
                ).json()
                assert answer["data"]["me"]["email"] == "user@acme.test"

    sockets = []
    try:
        for n in range(6):
            ws = await websockets.connect(url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"])
            sockets.append(ws)
            await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {user}"}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            query = "subscription { announcementPublished { id title } }"
            await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": {"query": query}}))
        await asyncio.sleep(1.0)  # the subscriptions have started listening
        root = await tokens("root@support.test")
        start = datetime.now(UTC) + timedelta(days=1)
        notice = (
            await gql.ok(
                PUBLISH,
                {
                    "i": {
                        "kind": "MAINTENANCE",
                        "title": f"Workers {uuid.uuid4().hex[:6]}",
                        "body": "Both workers hear this.",
                        "startsAt": start.isoformat(),
                        "endsAt": (start + timedelta(hours=1)).isoformat(),
                    }
                },
                token=root,
            )
        )["publishAnnouncement"]
        for ws in sockets:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
                if (
                    message["type"] == "next"
                    and message["payload"]["data"]["announcementPublished"]["id"] == notice["id"]
                ):
                    break
    finally:
        for ws in sockets:
            await ws.close()

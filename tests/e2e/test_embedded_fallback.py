"""The embedded run without a reachable RabbitMQ falls back to the in-process bus, and events still
flow: an announcement reaches the identity consumer that mails the users who opted in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from devstack.embedded import start_stack
from portalkit.events import InProcessBus
from services.identity.demo import load_demo
from tests.support.graphql import GraphQLClient
from tests.support.mailbox import free_port


async def test_embedded_stack_uses_the_in_process_bus_when_rabbitmq_is_unreachable(stack, tmp_path):
    settings = {
        "amqp_url": f"amqp://guest:guest@127.0.0.1:{free_port()}/",
        "mail_dir": str(tmp_path),
        "argon2_profile": "fast",
        "outbox_poll_seconds": 0.2,
    }
    embedded = await start_stack(settings, allow_in_process_bus=True)
    try:
        assert all(isinstance(bus, InProcessBus) for bus in embedded.buses)
        assert len({id(bus) for bus in embedded.buses}) == 1  # one shared stand-in
        await load_demo(embedded.services["identity"].domain)
        async with httpx.AsyncClient(base_url=embedded.gateway_url, timeout=20) as http:
            gql = GraphQLClient(http)
            user = await gql.token("user@acme.test")
            await gql.ok("mutation { updateEmailPreferences(input: {incident: true}) { incident } }", token=user)
            root = await gql.token("root@support.test")
            start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            await gql.ok(
                'mutation($s: DateTime!) { publishAnnouncement(input: {kind: INCIDENT, title: "Fallback works", '
                'body: "b", startsAt: $s}) { id } }',
                {"s": start},
                token=root,
            )
        for _ in range(100):
            mails = [p.read_text() for p in tmp_path.glob("*.eml")]
            if any("Fallback works" in m and "user@acme.test" in m for m in mails):
                break
            await asyncio.sleep(0.05)
        assert any("Fallback works" in m and "user@acme.test" in m for m in mails)
    finally:
        await embedded.stop()

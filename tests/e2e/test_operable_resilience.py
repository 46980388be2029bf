"""Resilience an operator relies on: a restarted service is served again at once, a signing-key fetch
that failed once does not lock valid tokens out, and a gateway leaves no queue behind on the broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import aiormq
import httpx
import pytest

from devstack.embedded import serve_http
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.live import LiveEvents
from portalkit.auth import TokenVerifier
from portalkit.events import RabbitBus
from portalkit.grpc_server import ServiceServer
from portalkit.service import Service
from services.identity.client import signing_keys
from tests.support.graphql import GraphQLClient


async def stop_grpc(service: Service) -> int:
    """Stop the service's gRPC server (as a crashed or restarting pod would); returns its port."""
    assert service.server is not None
    port = service.port
    await service.server.stop(0)
    return port


async def start_grpc(service: Service, port: int) -> None:
    """Start the service's gRPC API again on the same port (the restarted process)."""
    api = service.api
    server = ServiceServer(
        service.name,
        lambda server: api.add_to_server(api.servicer, server),
        [api.full_name],
        service.authenticate,
        api.public_methods,
    )
    await server.start(f"127.0.0.1:{port}")
    service.server = server


@pytest.fixture
async def fresh_gateway(stack) -> AsyncIterator[GraphQLClient]:
    """A gateway that has not fetched any signing key yet, on the stack's services."""
    clients = ServiceClients({name: stack.address(name) for name in stack.services}, deadline=3.0)
    app = create_app(clients, TokenVerifier(clients.signing_keys), None)
    server, task, port = await serve_http(app)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
        yield GraphQLClient(http)
    server.should_exit = True
    await task


async def test_identity_unreachable_once_then_tokens_accepted_as_soon_as_it_is_back(stack, tokens, fresh_gateway):
    token = await tokens("user@acme.test")
    identity = stack.services["identity"]
    port = await stop_grpc(identity)
    try:
        ready = await fresh_gateway.http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["signingKeys"] is False
        down = await fresh_gateway("{ me { email } }", token=token)
        assert down["errors"][0]["extensions"]["code"] != "UNAUTHENTICATED", down  # not the token's fault
    finally:
        await start_grpc(identity, port)
    data = await fresh_gateway.ok("{ me { email } }", token=token)  # the very next request
    assert data["me"]["email"] == "user@acme.test"
    assert (await fresh_gateway.http.get("/readyz")).status_code == 200


@pytest.mark.parametrize("service", ["contacts", "identity"])
async def test_a_restarted_service_serves_the_next_requests(stack, tokens, gql, service):
    token = await tokens("admin@acme.test")
    query = "{ me { email account { name } } }"
    assert (await gql.ok(query, token=token))["me"]["account"]["name"]  # the channel is connected
    port = await stop_grpc(stack.services[service])
    await start_grpc(stack.services[service], port)
    for _ in range(3):
        data = await gql.ok(query, token=token)
        assert data["me"]["email"] == "admin@acme.test" and data["me"]["account"]["name"]


async def test_a_service_down_does_not_make_the_gateway_unready(stack, http):
    contacts = stack.services["contacts"]
    port = await stop_grpc(contacts)
    try:
        assert (await http.get("/readyz")).status_code == 200
        detail = (await http.get("/healthz/detail")).json()
        assert detail["services"]["contacts"] is False and detail["services"]["identity"] is True
    finally:
        await start_grpc(contacts, port)


class RecordingBus(RabbitBus):
    """The real bus, noting which queues it subscribes."""

    queues: list[str]

    async def subscribe(self, queue: str, routing_keys: list[str], handler: Any, *, exclusive: bool = False) -> None:
        self.queues = [*getattr(self, "queues", []), queue, f"{queue}.retry"]
        await super().subscribe(queue, routing_keys, handler, exclusive=exclusive)


async def test_a_gateway_leaves_no_live_queue_behind(direct_amqp_url):
    bus = RecordingBus(direct_amqp_url)
    await LiveEvents().start(bus)
    connection = await aio_pika.connect(direct_amqp_url)
    try:
        assert [q for q in bus.queues if q.startswith("gateway.live.")] == bus.queues and bus.queues
        for name in bus.queues:  # both exist while the gateway runs, exclusive to its connection
            channel = await connection.channel()
            with pytest.raises(aiormq.exceptions.ChannelLockedResource):
                await channel.declare_queue(name, passive=True)
        await bus.close()  # the gateway stops (or its connection dies)
        for name in bus.queues:
            channel = await connection.channel()  # a failed passive declare closes the channel
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
                await channel.declare_queue(name, passive=True)
    finally:
        await connection.close()


async def test_a_services_key_fetch_waits_for_a_restarting_identity(stack):
    """Services verify tokens with identity's keys, fetched over the kit's channel: a fetch made while
    identity restarts waits for it (within its deadline) instead of failing at once."""
    identity = stack.services["identity"]
    fetch = signing_keys(stack.address("identity"), deadline=5.0)
    assert await fetch()  # connected once
    port = await stop_grpc(identity)
    pending = asyncio.create_task(fetch())
    await asyncio.sleep(0.5)  # the fetch is waiting for the channel, not failed
    assert not pending.done()
    await start_grpc(identity, port)
    assert [key.key_id for key in await pending]

"""A service that is down: its fields fail with UNAVAILABLE (no internals), the health detail says so, and
what does not need it is still served. A second gateway is started whose contacts and identity
channels point at a closed port. (Partial data across services comes with the domain issues, when
fields of several services exist.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from devstack.embedded import serve_http
from gateway.app import create_app
from gateway.clients import ServiceClients
from services.identity.client import token_verifier
from tests.support.graphql import GraphQLClient, code_of
from tests.support.mailbox import free_port


@pytest.fixture
async def gateway_with_dead_services(stack) -> AsyncIterator[GraphQLClient]:
    dead = f"127.0.0.1:{free_port()}"
    addresses = {name: stack.address(name) for name in stack.services}
    addresses.update({"identity": dead, "contacts": dead})
    app = create_app(ServiceClients(addresses, deadline=1.0), token_verifier(stack.address("identity")), None)
    server, task, port = await serve_http(app)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
        yield GraphQLClient(http)
    server.should_exit = True
    await task


async def test_down_service_gives_unavailable_and_shows_in_health_detail(gql, tokens, gateway_with_dead_services):
    token = await tokens("user@acme.test")  # from the healthy gateway
    degraded = gateway_with_dead_services
    body = await degraded("{ me { id } }", token=token)
    error = body["errors"][0]
    assert code_of(error) == "UNAVAILABLE"
    assert "127.0.0.1" not in error["message"] and "Traceback" not in str(body)
    # ready (it answers and verifies tokens): one service down must not drain every replica
    assert (await degraded.http.get("/readyz")).status_code == 200
    detail = (await degraded.http.get("/healthz/detail")).json()
    assert detail["services"]["contacts"] is False and detail["services"]["cases"] is True
    assert (await degraded.http.get("/healthz")).status_code == 200  # alive, just not ready
    # the gateway itself keeps answering
    bad = await degraded("{ me { id ")
    assert code_of(bad["errors"][0]) == "BAD_USER_INPUT"

"""Distributed mode's way in: with PORTAL_BOOTSTRAP_ADMIN_EMAIL / _PASSWORD set, identity makes sure
that SUPPORT_ADMIN exists at start (idempotent), so an empty deployment can be signed into."""

from __future__ import annotations

import httpx

from devstack.embedded import start_stack
from services.identity.bootstrap import BootstrapAdmin, ensure_bootstrap_admin
from tests.support.graphql import GraphQLClient
from tests.support.mailbox import free_port

EMAIL, PASSWORD = "Ops@Example.test", "a-long-bootstrap-secret-42"


async def test_bootstrap_admin_can_sign_in_to_an_empty_deployment(monkeypatch):
    monkeypatch.setenv("PORTAL_BOOTSTRAP_ADMIN_EMAIL", EMAIL)
    monkeypatch.setenv("PORTAL_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
    empty = await start_stack(
        {"amqp_url": f"amqp://guest:guest@127.0.0.1:{free_port()}/", "argon2_profile": "fast"}  # in-process bus
    )
    try:
        async with httpx.AsyncClient(base_url=empty.gateway_url, timeout=20) as http:
            gql = GraphQLClient(http)
            login = await gql.ok(
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
                {"e": EMAIL, "p": PASSWORD},
            )
            me = await gql.ok("{ me { email role } }", token=login["login"]["accessToken"])
            assert me["me"] == {"email": EMAIL.lower(), "role": "SUPPORT_ADMIN"}
            identity = empty.services["identity"].domain
            # a restart (the step again) changes nothing, not even a changed password variable
            assert await ensure_bootstrap_admin(identity, BootstrapAdmin(password="another-password-123")) is False
            assert len(await identity.store.users.find_many({"email": EMAIL.lower()})) == 1
            again = await gql.ok(
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
                {"e": EMAIL, "p": PASSWORD},
            )
            assert again["login"]["accessToken"]
    finally:
        await empty.stop()


async def test_no_bootstrap_admin_when_unset(stack):
    assert (
        await ensure_bootstrap_admin(stack.services["identity"].domain, BootstrapAdmin(email="", password="")) is False
    )

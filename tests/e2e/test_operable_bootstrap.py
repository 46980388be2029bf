"""Distributed mode's way in: with PORTAL_BOOTSTRAP_ADMIN_EMAIL / _PASSWORD set, identity makes sure
that SUPPORT_ADMIN exists at start (idempotent), so an empty deployment can be signed into."""

from __future__ import annotations

import httpx

from devstack.embedded import start_stack
from devstack.seed_api import seed
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


async def test_seed_through_the_public_api_into_an_empty_deployment(monkeypatch):
    monkeypatch.setenv("PORTAL_BOOTSTRAP_ADMIN_EMAIL", EMAIL)
    monkeypatch.setenv("PORTAL_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
    empty = await start_stack({"amqp_url": f"amqp://guest:guest@127.0.0.1:{free_port()}/", "argon2_profile": "fast"})
    try:
        first = await seed(empty.gateway_url, EMAIL, PASSWORD)
        assert "account ACME-001" in first.created and "staff agent@support.test" in first.created
        assert any(line.startswith("contact ") for line in first.created)
        again = await seed(empty.gateway_url, EMAIL, PASSWORD)
        assert again.created == [], again.created  # idempotent
        async with httpx.AsyncClient(base_url=empty.gateway_url, timeout=20) as http:
            gql = GraphQLClient(http)
            token = (
                await gql.ok(
                    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
                    {"e": EMAIL, "p": PASSWORD},
                )
            )["login"]["accessToken"]
            accounts = await gql.ok("{ accounts { totalCount edges { node { number } } } }", token=token)
            assert {e["node"]["number"] for e in accounts["accounts"]["edges"]} == {"ACME-001", "GLOBEX-001"}
    finally:
        await empty.stop()

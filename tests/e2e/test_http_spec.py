"""GraphQL over HTTP by the spec (issue 15), checked by outside code: the graphql-http server audits
run by Node against the real gateway, plus the details the audits leave open."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
SPEC_TYPE = "application/graphql-response+json"


async def _node(script: str, *args: str) -> list[dict]:
    process = await asyncio.create_subprocess_exec(
        "node", str(CLIENTS / script), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


async def test_the_graphql_http_audits_pass_with_no_must_or_should_failures(stack):
    results = await _node("audit.mjs", f"{stack.gateway_url}/graphql")
    assert len(results) > 50
    failed = [r for r in results if r["status"] != "ok"]
    assert not failed, failed


async def test_request_errors_are_400_without_data_for_the_spec_media_type(http):
    for query in ("{ me { id ", "{ me { shoeSize } }"):
        response = await http.post("/graphql", json={"query": query}, headers={"accept": SPEC_TYPE})
        assert response.status_code == 400 and response.headers["content-type"].startswith(SPEC_TYPE)
        body = response.json()
        assert "data" not in body and body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    legacy = await http.post("/graphql", json={"query": "{ me { shoeSize } }"}, headers={"accept": "application/json"})
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")
    # a field error is not a request error: 200, with data
    field_error = await http.post("/graphql", json={"query": "{ announcements { id } }"}, headers={"accept": SPEC_TYPE})
    assert field_error.status_code == 200 and "data" in field_error.json()
    refused = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"accept": "text/xml"})
    assert refused.status_code == 406


async def test_queries_over_get_are_cacheable_and_mutations_are_405(http, tokens):
    anonymous = await http.get(
        "/graphql",
        params={
            "query": "query($t: String!) { invitation(token: $t) { email } }",
            "variables": json.dumps({"t": "nope"}),
        },
    )
    assert anonymous.status_code == 200 and anonymous.json() == {"data": {"invitation": None}}
    assert anonymous.headers["cache-control"] == "public, max-age=60" and "Authorization" in anonymous.headers["vary"]
    token = await tokens("user@acme.test")
    mine = await http.get(
        "/graphql", params={"query": "{ me { email } }"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert mine.json()["data"]["me"]["email"] == "user@acme.test"
    assert mine.headers["cache-control"] == "private, no-store"
    mutation = await http.get("/graphql", params={"query": 'mutation { logout(refreshToken: "x") }'})
    assert mutation.status_code == 405 and mutation.headers["allow"] == "POST"
    assert mutation.json()["errors"][0]["extensions"]["reason"] == "METHOD_NOT_ALLOWED"


async def test_apollo_client_with_persisted_queries_over_get_a_websocket_link_and_its_cache(stack, tokens):
    """Apollo's own links and cache (tests/clients/apollo.mjs) against the gateway."""
    root = await tokens("root@support.test")
    http_url = f"{stack.gateway_url}/graphql"
    steps = {
        s["step"]: s
        for s in await _node(
            "apollo.mjs", http_url, http_url.replace("http", "ws"), "user@acme.test", "portal-demo-pass", root
        )
    }
    assert steps["login"] == {"step": "login", "email": "user@acme.test", "account": "Acme Corp"}
    # first use of a document: the hash alone over GET, PersistedQueryNotFound, then the text once
    assert [(r["method"], r["hasQueryText"]) for r in steps["me"]["requests"]] == [("GET", False), ("POST", True)]
    assert steps["me again"]["requests"] == 0  # answered from Apollo's cache
    # another client (a new page load) sends only the hash, over GET, and the gateway knows it
    assert [(r["method"], r["hasQueryText"]) for r in steps["me on a new client"]["requests"]] == [("GET", False)]
    assert steps["subscription"]["title"].startswith("Apollo ")


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
async def test_python_gql_client_over_both_websocket_subprotocols(stack, tokens, gql, subprotocol):
    from gql import Client
    from gql import gql as document
    from gql.transport.websockets import WebsocketsTransport

    user, root = await tokens("user@acme.test"), await tokens("root@support.test")
    transport = WebsocketsTransport(
        url=stack.gateway_url.replace("http", "ws") + "/graphql",
        init_payload={"Authorization": f"Bearer {user}"},
        subprotocols=[subprotocol],
    )
    title = f"gql {subprotocol} {uuid.uuid4().hex[:6]}"
    async with Client(transport=transport) as session:
        if subprotocol == "graphql-transport-ws":  # the legacy protocol carries subscriptions only
            me = await session.execute(document("{ me { email account { name } } }"))
            assert me["me"] == {"email": "user@acme.test", "account": {"name": "Acme Corp"}}

        async def first_matching() -> dict:
            async for result in session.subscribe(document("subscription { announcementPublished { title } }")):
                if result["announcementPublished"]["title"] == title:
                    return result
            raise AssertionError("the subscription ended")

        waiting = asyncio.create_task(first_matching())
        await asyncio.sleep(0.3)  # the subscription reaches the gateway before the publish
        await gql.ok(
            'mutation($t: String!) { publishAnnouncement(input: {kind: INCIDENT, title: $t, body: "b", '
            'startsAt: "2026-12-01T00:00:00Z"}) { id } }',
            {"t": title},
            token=root,
        )
        received = await asyncio.wait_for(waiting, timeout=10)
    assert received["announcementPublished"]["title"] == title

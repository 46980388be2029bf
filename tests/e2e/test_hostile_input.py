"""Hostile documents and bodies through the real gateway (issue 9): each is refused with a clean,
coded answer, quickly, and the gateway keeps answering others while it is in flight."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest
import websockets

from gateway import app as app_module
from gateway.schema import root as root_module
from tests.support.graphql import code_of

# A health check must be answered while hostile requests are in flight (a blocked event loop took
# 7-10 s before the limits came first). Not a speed assertion: 2 s absorbs a loaded CI machine.
HEALTH_SECONDS = 2.0


def _fragment_bomb(levels: int) -> str:
    """Each fragment spreads the next twice: expanded, 2**levels copies of `me { id }`."""
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    fragments.append(f"fragment F{levels} on Query {{ me {{ id }} }}")
    return "query { ...F0 } " + " ".join(fragments)


async def _refused_while_healthy(http: httpx.AsyncClient, body: object, headers: dict | None = None) -> httpx.Response:
    """Send the hostile body and, while it is in flight, a health check: the health check must not
    wait for it (the event loop stays free)."""
    hostile = asyncio.create_task(http.post("/graphql", json=body, headers=headers or {}))
    health = await asyncio.wait_for(http.get("/healthz"), timeout=HEALTH_SECONDS)
    assert health.status_code == 200
    return await hostile


@pytest.mark.parametrize("levels", [20, 40])
async def test_a_fragment_bomb_is_refused_without_expanding_it(http, levels):
    response = await _refused_while_healthy(http, {"query": _fragment_bomb(levels)})
    error = response.json()["errors"][0]
    # refused on the first figure over its limit, measured per fragment once (not 2**levels times)
    assert code_of(error) == "BAD_USER_INPUT" and error["extensions"]["reason"] == "TOO_MANY_ROOT_FIELDS"


async def test_hundreds_of_root_fields_are_refused_before_validation(http):
    query = "{ " + " ".join(["me { id }"] * 740) + " }"  # under the token limit
    concurrently = [_refused_while_healthy(http, {"query": query}) for _ in range(4)]
    for response in await asyncio.gather(*concurrently):
        assert response.json()["errors"][0]["extensions"]["reason"] in {"TOO_MANY_SELECTIONS", "TOO_MANY_ROOT_FIELDS"}
    few = "{ " + " ".join(["me { id }"] * 25) + " }"
    error = (await http.post("/graphql", json={"query": few})).json()["errors"][0]
    assert error["extensions"]["reason"] == "TOO_MANY_ROOT_FIELDS"


async def test_unbounded_nesting_of_lists_costs_what_it_would_return(gql, tokens):
    admin = await tokens("admin@acme.test")
    nested = "{ me { account { " + "admins { account { " * 4 + "name" + " } }" * 4 + " } } }"  # 50**4 users
    error = (await gql(nested, token=admin))["errors"][0]
    assert code_of(error) == "BAD_USER_INPUT" and error["extensions"]["reason"] == "QUERY_TOO_COSTLY"
    assert await gql.ok("{ me { account { admins { email account { name } } } } }", token=admin)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("{ ...Missing }", "GRAPHQL_VALIDATION_FAILED"),
        ("fragment A on Query { ...B } fragment B on Query { ...A } { ...A }", "GRAPHQL_VALIDATION_FAILED"),
        ("query A { me { id } } query B { me { email } }", "OPERATION_NAME_REQUIRED"),
        ("subscription { announcementPublished { id } }", "SUBSCRIPTION_OVER_HTTP"),
        ("{}", "GRAPHQL_VALIDATION_FAILED"),
        ("{ me { id } account {} }", "GRAPHQL_VALIDATION_FAILED"),
        (" ", "GRAPHQL_PARSE_FAILED"),
    ],
)
async def test_client_mistakes_get_a_code_and_a_message_for_people(http, query, reason):
    response = await http.post("/graphql", json={"query": query})
    assert response.status_code < 500
    error = response.json()["errors"][0]
    assert code_of(error) == "BAD_USER_INPUT" and error["extensions"]["reason"] == reason, error
    assert "'" not in error["message"][:2] and "max()" not in error["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b"null",
        b"42",
        b'"a string"',
        b"[]",
        b"\xff\xfe not utf-8",
        b'{"query": "{ me { id } }", "variables": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}",
        b'{"query": 42}',
        b'{"query": "{ me { id } }", "variables": [1]}',
    ],
    ids=["null", "number", "string", "array", "invalid-utf8", "deep-variables", "query-not-string", "variables-list"],
)
async def test_malformed_bodies_are_coded_json_errors(http, raw):
    response = await http.post("/graphql", content=raw, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert code_of(body["errors"][0]) == "BAD_USER_INPUT", body
    assert json.dumps(body)  # JSON, not a stack trace


async def test_large_documents_within_the_limits_do_not_stall_the_gateway(http, tokens):
    admin = await tokens("admin@acme.test")
    headers = {"Authorization": f"Bearer {admin}"}
    # the most selections allowed, all of one field (graphql-core's overlap check is quadratic)
    documents = [
        {"query": "{ me { " + " ".join(["id"] * 495) + f" }} n{i}: announcements {{ id }} }}"} for i in range(4)
    ]
    in_flight = [asyncio.create_task(http.post("/graphql", json=d, headers=headers)) for d in documents]
    health = await asyncio.wait_for(http.get("/healthz"), timeout=HEALTH_SECONDS)
    assert health.status_code == 200
    for response in await asyncio.gather(*in_flight):
        body = response.json()
        assert "errors" not in body and body["data"]["me"]["id"], body


def _ws_url(stack) -> str:
    return stack.gateway_url.replace("http", "ws") + "/graphql"


@pytest.mark.parametrize(
    ("protocol", "start"),
    [("graphql-transport-ws", "subscribe"), ("graphql-ws", "start")],
)
async def test_errors_over_websockets_carry_codes_in_both_subprotocols(stack, protocol, start):
    async with websockets.connect(_ws_url(stack), subprotocols=[protocol]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": start, "payload": {"query": "subscription { nope }"}}))
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    assert message["type"] == "error"
    errors = message["payload"] if isinstance(message["payload"], list) else [message["payload"]]
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "reason": "GRAPHQL_VALIDATION_FAILED"}


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_socket_that_never_says_hello_is_closed(stack, protocol, monkeypatch):
    monkeypatch.setattr(app_module, "WS_INIT_SECONDS", 0.3)
    async with websockets.connect(_ws_url(stack), subprotocols=[protocol]) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code in (4408, 4400)


async def test_sockets_per_client_address_are_capped(stack, monkeypatch):
    monkeypatch.setattr(app_module, "MAX_SOCKETS_PER_CLIENT", 3)
    async with contextlib.AsyncExitStack() as sockets:
        for _ in range(3):
            ws = await sockets.enter_async_context(websockets.connect(_ws_url(stack), subprotocols=["graphql-ws"]))
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
        with pytest.raises(websockets.InvalidStatus):  # refused before the handshake completes
            await websockets.connect(_ws_url(stack), subprotocols=["graphql-ws"])
    # once they are closed, the address may connect again
    async with websockets.connect(_ws_url(stack), subprotocols=["graphql-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"


async def test_introspection_and_suggestions_can_be_turned_off(gql, monkeypatch):
    assert (await gql.ok("{ __schema { queryType { name } } }"))["__schema"]["queryType"]["name"] == "Query"
    hinted = (await gql("{ me { emial } }"))["errors"][0]["message"]
    assert "Did you mean" in hinted  # the embedded run helps its developers
    monkeypatch.setattr(root_module.POLICY, "introspection", False)  # PORTAL_GRAPHQL_INTROSPECTION=false
    refused = (await gql("{ __schema { queryType { name } } }"))["errors"][0]
    assert code_of(refused) == "BAD_USER_INPUT" and "introspection" in refused["message"].lower()
    plain = (await gql("{ me { emial } }"))["errors"][0]
    assert code_of(plain) == "BAD_USER_INPUT" and "Did you mean" not in plain["message"] and "emial" in plain["message"]


async def test_page_sizes_given_as_variables_count_with_the_value_sent(gql, tokens):
    root = await tokens("root@support.test")
    query = """query($n: Int) { accounts(first: $n) { edges { node {
      users(first: 100) { edges { node { account { admins { email } } } } } } } } }"""
    assert (await gql.ok(query, {"n": 1}, token=root))["accounts"]["edges"]
    refused = (await gql(query, {"n": 10}, token=root))["errors"][0]
    assert refused["extensions"]["reason"] == "QUERY_TOO_COSTLY"
    # not sent: the field's default page size (50) applies, not the cap
    assert (await gql(query, {}, token=root))["errors"][0]["extensions"]["reason"] == "QUERY_TOO_COSTLY"
    # limits are remembered per document and page sizes: the same text with a small page still runs
    assert (await gql.ok(query, {"n": 1}, token=root))["accounts"]["edges"]

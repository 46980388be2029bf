"""A document the request pipeline has already parsed, limited and validated runs straight on the
executor (PortalSchema.execute): each request below is sent twice through the gateway's ASGI app —
the first time through Strawberry's whole pipeline, the second through the cached path where one
applies — and both answers must be the same, status, headers and body."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import grpc
import jwt
import pytest
import strawberry
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette

from devstack import asgi
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.schema import root
from portalkit import telemetry
from portalkit.auth import Caller
from protos.identity.v1 import identity_pb2 as pb

TOKEN = jwt.encode({"sub": "u1", "exp": 4102444800}, "not-checked-here", algorithm="HS256")
USERS = [
    pb.User(id=f"u{i}", email=f"u{i}@acme.test", name="U", account_id=f"a{i % 2}", role=pb.USER, status=pb.ACTIVE)
    for i in range(3)
]


class Method:
    """A stub's unary method: answers `reply` (or raises it) and counts its calls."""

    def __init__(self, name: str, reply: Any) -> None:
        self._method = f"/identity.v1.IdentityService/{name}".encode()
        self.reply = reply
        self.calls = 0

    async def __call__(self, request: Any, **_: Any) -> Any:
        self.calls += 1
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


class Unavailable(grpc.aio.AioRpcError):
    def __init__(self) -> None:
        super().__init__(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down")


class IdentityStub:
    def __init__(self) -> None:
        self.GetMe = Method("GetMe", USERS[0])
        self.GetAccount = Method("GetAccount", Unavailable())
        self.ListUsers = Method(
            "ListUsers", pb.ListUsersResponse(users=USERS, total_count=3, cursors=["c0", "c1", "c2"])
        )
        self.BatchGetAccounts = Method(
            "BatchGetAccounts", pb.BatchGetAccountsResponse(accounts=[pb.Account(id="a0", name="Acme")])
        )
        self.ListAccounts = Method("ListAccounts", pb.ListAccountsResponse())
        self.RequestPasswordReset = Method("RequestPasswordReset", pb.Done())


class Verifier:
    async def verify(self, token: str) -> Caller:
        return Caller(user_id="u1", role="CUSTOMER_ADMIN", account_id="a0", session_id="s1")

    async def ready(self) -> bool:
        return True


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Starlette, IdentityStub]]:
    """The app as create_app builds it, outside a recorded trace whatever earlier tests exported."""
    monkeypatch.setattr(telemetry._SAMPLER, "exporting", False)
    clients = ServiceClients(addresses={})
    stub = IdentityStub()
    clients.stubs["identity"] = stub
    introspection = root.POLICY.introspection
    root._runnable = root._LRU(root.DOCUMENT_CACHE_SIZE)  # what earlier tests ran is not known here
    yield create_app(clients, Verifier(), None), stub  # type: ignore[arg-type]
    root.POLICY.introspection = introspection


@pytest.fixture
def full_pipeline_runs(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The query texts that went through Strawberry's whole pipeline."""
    runs: list[str | None] = []
    execute = strawberry.Schema.execute

    async def counted(self: Any, query: str | None, *args: Any, **kwargs: Any) -> Any:
        runs.append(query)
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(strawberry.Schema, "execute", counted)
    return runs


async def _send(
    app: Starlette, body: dict[str, Any], method: str = "POST", accept: str = "application/json"
) -> tuple[int, dict[str, str], Any]:
    encoded = json.dumps(body).encode()
    query_string = b""
    if method == "GET":
        query_string = urlencode({k: json.dumps(v) if isinstance(v, dict) else v for k, v in body.items()}).encode()
        encoded = b""
    request_headers = [
        (b"host", b"gateway"),
        (b"content-type", b"application/json"),
        (b"accept", accept.encode()),
        (b"authorization", f"Bearer {TOKEN}".encode()),
        (b"content-length", str(len(encoded)).encode()),
    ]
    start, *bodies = await asgi.call(app, method, "/graphql", request_headers, encoded, query_string)
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(b"".join(m.get("body", b"") for m in bodies))


PAGE = "query($n: Int) { users(first: $n) { totalCount edges { node { id email account { name } } } } }"
NESTED = "query($n: Int, $m: Int) { accounts(first: $n) { edges { node { users(first: $m) { edges { node { id email name role } } } } } } }"
TWO_OPERATIONS = "query A { me { id } } query B { me { email name } }"


@pytest.mark.parametrize(
    ("body", "cached"),
    [
        ({"query": "{ me { id email role } }"}, True),
        ({"query": PAGE, "variables": {"n": 3}}, True),
        ({"query": PAGE, "variables": {"n": "three"}}, True),  # does not coerce: the same error both times
        ({"query": NESTED, "variables": {"n": 3, "m": 3}}, True),
        ({"query": NESTED, "variables": {"n": 100, "m": 100}}, False),  # the same text over the cost limit
        ({"query": "{ account { id name } }"}, True),  # the service is down: the same coded error
        ({"query": "{ me { nope } }"}, False),  # does not validate
        ({"query": "{ me { id "}, False),  # does not parse
        ({"query": TWO_OPERATIONS, "operationName": "B"}, True),
        ({"query": TWO_OPERATIONS, "operationName": "C"}, False),  # no such operation
        ({"query": TWO_OPERATIONS}, False),  # which one?
        ({"query": "{ __schema { queryType { name } } }"}, True),
        ({"query": "{ me { id } }", "operationName": {"an": "object"}}, False),
    ],
)
async def test_a_repeated_request_answers_as_the_first(
    gateway: tuple[Starlette, IdentityStub], full_pipeline_runs: list[str | None], body: dict[str, Any], cached: bool
) -> None:
    app, _ = gateway
    for accept in ("application/json", "application/graphql-response+json"):
        full_pipeline_runs.clear()
        first = await _send(app, body, accept=accept)
        second = await _send(app, body, accept=accept)
        assert second == first
        expected = [body["query"]] if cached else [body["query"], body["query"]]
        if accept == "application/json" or not cached:  # the first accept already left it runnable
            assert full_pipeline_runs == expected
        else:
            assert full_pipeline_runs == []


async def test_a_requests_context_lets_go_of_what_it_loaded_once_the_answer_is_made(
    gateway: tuple[Starlette, IdentityStub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its loaders hold it (a cycle): what they loaded would otherwise wait for the garbage collector."""
    from gateway.app import PortalGraphQL
    from gateway.context import PortalContext

    app, stub = gateway
    contexts: list[PortalContext] = []
    get_context = PortalGraphQL.get_context

    async def recorded(self: PortalGraphQL, request: Any, response: Any) -> PortalContext:
        contexts.append(await get_context(self, request, response))
        return contexts[-1]

    monkeypatch.setattr(PortalGraphQL, "get_context", recorded)
    for _ in range(2):  # the whole pipeline, then the runnable path
        status, _, body = await _send(app, {"query": PAGE, "variables": {"n": 3}})
        assert status == 200 and body["data"]["users"]["edges"][0]["node"]["account"] == {"name": "Acme"}
    assert stub.BatchGetAccounts.calls == 2  # each request loaded the accounts through its loaders
    # (the first request makes two: the runnable path's, then the whole pipeline's)
    assert len(contexts) == 3 and all(not c._loaders and not c._converted for c in contexts)


async def test_a_mutation_known_from_post_still_does_not_run_over_get(
    gateway: tuple[Starlette, IdentityStub], full_pipeline_runs: list[str | None]
) -> None:
    app, stub = gateway
    body = {"query": 'mutation { requestPasswordReset(email: "a@acme.test") }'}
    assert (await _send(app, body))[2] == {"data": {"requestPasswordReset": True}}
    assert (await _send(app, body))[2] == {"data": {"requestPasswordReset": True}}
    assert stub.RequestPasswordReset.calls == 2
    status, headers, _ = await _send(app, body, method="GET")
    assert (status, headers["allow"], stub.RequestPasswordReset.calls) == (405, "POST", 2)


async def test_introspection_turned_off_is_not_bypassed(gateway: tuple[Starlette, IdentityStub]) -> None:
    app, _ = gateway
    body = {"query": "{ __schema { mutationType { name } } }"}
    for _ in range(2):
        assert (await _send(app, body))[2] == {"data": {"__schema": {"mutationType": {"name": "Mutation"}}}}
    root.POLICY.introspection = False
    for _ in range(2):
        _, _, answer = await _send(app, body)
        assert answer["data"] is None
        assert answer["errors"][0]["extensions"]["reason"] == "GRAPHQL_VALIDATION_FAILED"


def test_the_whole_pipeline_runs_inside_a_recorded_trace() -> None:
    """The tracing extension has hooks there (its spans): a runnable document is not taken straight."""
    assert root.schema._plain()
    with TracerProvider().get_tracer("test").start_as_current_span("recorded"):
        assert not root.schema._plain()


async def test_a_persisted_query_by_its_hash_and_a_get_answer_as_the_first(
    gateway: tuple[Starlette, IdentityStub], full_pipeline_runs: list[str | None]
) -> None:
    app, _ = gateway
    query = "{ me { id name } }"
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}}
    first = await _send(app, {"query": query, "extensions": persisted})
    assert await _send(app, {"extensions": persisted}) == first
    assert full_pipeline_runs == [query]
    get = await _send(app, {"query": query}, method="GET")
    assert get[0] == 200
    assert get[1]["cache-control"] == "private, no-store"
    assert await _send(app, {"query": query}, method="GET") == get
    assert full_pipeline_runs == [query]  # a query is allowed over GET: runnable there too

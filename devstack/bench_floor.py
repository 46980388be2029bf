"""`python -m devstack.bench_floor`: the gateway bench's floor — the least an HTTP front of the
identity service can do for the bench's query shapes, with no GraphQL at all. Same server as the
gateway (uvicorn, uvloop, httptools), same gRPC channel (the kit's `open_channel`), same JSON
encoder (orjson): it reads the JSON body, finds the shape by its exact query text, forwards the
bearer token, makes the same calls the gateway makes and writes the same response (uncompressed: the gateway gzips the page). What the bench
shows for it is what Python's HTTP server and gRPC client cost on their own; the gateway's distance
from it is what GraphQL (parsing, validation, execution, the type layer) and the kit's edge add.

Not a product: it knows two documents and checks nothing a service does not check itself."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvicorn

from devstack.bench_load import SHAPES
from portalkit.grpc_client import open_channel
from protos.identity.v1 import identity_pb2, identity_pb2_grpc

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Metadata = tuple[tuple[str, str], ...]


class Floor:
    """The ASGI app: POST /graphql for the bench's shapes, GET /healthz."""

    def __init__(self, identity_address: str) -> None:
        self._address = identity_address
        self._stub: Any = None
        self._shapes: dict[str, Callable[[Metadata], Awaitable[dict[str, Any]]]] = {
            SHAPES["get"]: self._get,
            SHAPES["page of 50 users + account"]: self._page,
        }

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    stub_class = identity_pb2_grpc.IdentityServiceStub
                    self._stub = stub_class(open_channel(self._address, stub_class))
                    await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/healthz":
            await self._respond(send, 200, b"{}")
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer = self._shapes.get(orjson.loads(body).get("query", ""))
        if answer is None:
            await self._respond(send, 400, b'{"errors":[{"message":"not a bench shape"}]}')
            return
        headers = dict(scope["headers"])
        metadata = (("authorization", headers.get(b"authorization", b"").decode()),)
        await self._respond(send, 200, orjson.dumps({"data": await answer(metadata)}))

    async def _get(self, metadata: Metadata) -> dict[str, Any]:
        me = await self._stub.GetMe(identity_pb2.GetMeRequest(), metadata=metadata, timeout=5)
        return {"me": {"id": me.id, "email": me.email}}

    async def _page(self, metadata: Metadata) -> dict[str, Any]:
        page = await self._stub.ListUsers(identity_pb2.ListUsersRequest(page_size=50), metadata=metadata, timeout=5)
        ids = sorted({u.account_id for u in page.users if u.account_id})
        request = identity_pb2.BatchGetAccountsRequest(ids=ids)
        accounts = {
            a.id: a for a in (await self._stub.BatchGetAccounts(request, metadata=metadata, timeout=5)).accounts
        }
        edges = []
        for user in page.users:
            account = accounts.get(user.account_id)
            node = {"id": user.id, "email": user.email, "account": {"name": account.name} if account else None}
            edges.append({"node": node})
        return {"users": {"edges": edges}}

    @staticmethod
    async def _respond(send: Send, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(
        Floor(os.environ["PORTAL_IDENTITY_GRPC_ADDR"]),
        host="127.0.0.1",
        port=int(os.environ["PORTAL_GATEWAY_PORT"]),
        loop="uvloop",
        log_level="warning",
    )

"""`python -m devstack.bench_floor`: the gateway bench's floor — the least an HTTP front of the
identity and cases services can do for the bench's query shapes, with no GraphQL at all. Same
server as the gateway (uvicorn, uvloop, httptools), same gRPC channels (the kit's `open_channel`),
same JSON encoder (orjson): it reads the JSON body, finds the shape by its exact query text,
forwards the bearer token, makes the calls the gateway makes (bench_load's `Reads`) and writes the
same response (uncompressed: the gateway gzips the pages). What the bench shows for it is what
Python's HTTP server and gRPC client cost on their own; the gateway's distance from it is what
GraphQL (parsing, validation, execution, the type layer) and the kit's edge add.

Not a product: it knows the bench's documents and checks nothing a service does not check itself."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

import orjson
import uvicorn

from devstack.bench_load import SHAPES, Metadata, Reads
from portalkit.grpc_client import open_channel
from protos.cases.v1 import cases_pb2_grpc
from protos.identity.v1 import identity_pb2_grpc

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class Floor:
    """The ASGI app: POST /graphql for the bench's shapes, GET /healthz."""

    def __init__(self, addresses: dict[str, str]) -> None:
        self._addresses = addresses
        self._reads: Reads | None = None
        self._shapes: dict[str, Callable[[Reads, Metadata], Awaitable[dict[str, Any]]]] = {
            SHAPES["get"]: self._get,
            SHAPES["page of 50 users + account"]: self._users_page,
            SHAPES["page of 50 cases + requester"]: self._cases_page,
            SHAPES["page of 50 cases + comment counts"]: self._cases_comment_counts,
            SHAPES["page of 50 cases + latest comments"]: self._cases_latest_comments,
        }

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    identity = identity_pb2_grpc.IdentityServiceStub
                    cases = cases_pb2_grpc.CasesServiceStub
                    self._reads = Reads(
                        identity(open_channel(self._addresses["identity"], identity)),
                        cases(open_channel(self._addresses["cases"], cases)),
                    )
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
        if answer is None or self._reads is None:
            await self._respond(send, 400, b'{"errors":[{"message":"not a bench shape"}]}')
            return
        headers = dict(scope["headers"])
        metadata = (("authorization", headers.get(b"authorization", b"").decode()),)
        await self._respond(send, 200, orjson.dumps({"data": await answer(self._reads, metadata)}))

    @staticmethod
    async def _get(reads: Reads, metadata: Metadata) -> dict[str, Any]:
        me = await reads.get(metadata)
        return {"me": {"id": me.id, "email": me.email}}

    @staticmethod
    async def _users_page(reads: Reads, metadata: Metadata) -> dict[str, Any]:
        users, accounts = await reads.users_page(metadata)
        edges = []
        for user in users:
            account = accounts.get(user.account_id)
            node = {"id": user.id, "email": user.email, "account": {"name": account.name} if account else None}
            edges.append({"node": node})
        return {"users": {"edges": edges}}

    @staticmethod
    async def _cases_page(reads: Reads, metadata: Metadata) -> dict[str, Any]:
        cases, requesters = await reads.cases_page(metadata)
        return {"cases": {"edges": [{"node": _case_node(case, requesters)} for case in cases]}}

    @staticmethod
    async def _cases_comment_counts(reads: Reads, metadata: Metadata) -> dict[str, Any]:
        cases, requesters, counts = await reads.cases_comment_counts(metadata)
        edges = [
            {"node": _case_node(case, requesters) | {"comments": {"totalCount": counts.get(case.id, 0)}}}
            for case in cases
        ]
        return {"cases": {"edges": edges}}

    @staticmethod
    async def _cases_latest_comments(reads: Reads, metadata: Metadata) -> dict[str, Any]:
        cases, pages, authors = await reads.cases_latest_comments(metadata)
        edges = []
        for case in cases:
            page = pages.get(case.id)
            comments: list[dict[str, Any]] = []
            for comment in page.comments if page else []:
                author = authors.get(comment.author_id)
                node = {
                    "id": comment.id,
                    "body": comment.body,
                    "createdAt": comment.created_at.ToDatetime(tzinfo=UTC).isoformat(),
                    "author": {"name": author.name} if author else None,
                }
                comments.append({"node": node})
            listed = {"totalCount": page.total_count if page else 0, "edges": comments}
            edges.append({"node": {"id": case.id, "number": case.number, "subject": case.subject, "comments": listed}})
        return {"cases": {"edges": edges}}

    @staticmethod
    async def _respond(send: Send, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _case_node(case: Any, requesters: dict[str, Any]) -> dict[str, Any]:
    requester = requesters.get(case.requester_id)
    return {
        "id": case.id,
        "number": case.number,
        "subject": case.subject,
        "requester": {"name": requester.name} if requester else None,
    }


if __name__ == "__main__":
    uvicorn.run(
        Floor({name: os.environ[f"PORTAL_{name.upper()}_GRPC_ADDR"] for name in ("identity", "cases")}),
        host="127.0.0.1",
        port=int(os.environ["PORTAL_GATEWAY_PORT"]),
        loop="uvloop",
        log_level="warning",
    )

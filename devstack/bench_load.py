"""The gateway bench's load generator, in a process of its own (`start_load`), so the clients take no
CPU from the services or the gateway being measured. It keeps an HTTP client (aiohttp, keep-alive
connections) to the gateway and one to the floor app (devstack/bench_floor.py), and gRPC channels
to identity and cases, and runs each measurement it is sent: the same reads through the gateway,
through the floor or directly over gRPC (`Reads`, which the floor makes too), N requests from C
concurrent clients."""

from __future__ import annotations

import asyncio
import functools
import json
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import grpc.aio
import uvloop

from protos.cases.v1 import cases_pb2, cases_pb2_grpc
from protos.identity.v1 import identity_pb2, identity_pb2_grpc

SHAPES = {
    "get": "{ me { id email } }",
    "page of 50 users + account": "{ users(first: 50) { edges { node { id email account { name } } } } }",
    # across two services: the cases page, then its requesters from identity (one batch call each)
    "page of 50 cases + requester": "{ cases(first: 50) { edges { node { id number subject requester { name } } } } }",
    # a nested page in each item: its count (comments from cases, in the same round as the requesters)
    "page of 50 cases + comment counts": "{ cases(first: 50) { edges { node { id number subject requester { name }"
    " comments(first: 3) { totalCount } } } } }",
    # a case list that previews each case's latest comments: the nested pages' items, then their authors
    "page of 50 cases + latest comments": "{ cases(first: 50) { edges { node { id number subject"
    " comments(first: 3) { totalCount edges { node { id body createdAt author { name } } } } } } } }",
}
Metadata = tuple[tuple[str, str], ...]


class Reads:
    """The gRPC calls the gateway makes for each shape, made directly (by the load process for the
    direct path, and by the floor): each returns the messages its response is built from."""

    def __init__(self, identity: identity_pb2_grpc.IdentityServiceStub, cases: cases_pb2_grpc.CasesServiceStub) -> None:
        self.identity, self.cases = identity, cases
        self.by_shape: dict[str, Callable[[Metadata], Awaitable[Any]]] = {
            "get": self.get,
            "page of 50 users + account": self.users_page,
            "page of 50 cases + requester": self.cases_page,
            "page of 50 cases + comment counts": self.cases_comment_counts,
            "page of 50 cases + latest comments": self.cases_latest_comments,
        }
        assert self.by_shape.keys() == SHAPES.keys()

    async def get(self, metadata: Metadata) -> identity_pb2.User:
        return await self.identity.GetMe(identity_pb2.GetMeRequest(), metadata=metadata, timeout=5)

    async def users_page(self, metadata: Metadata) -> tuple[Any, dict[str, identity_pb2.Account]]:
        page = await self.identity.ListUsers(identity_pb2.ListUsersRequest(page_size=50), metadata=metadata, timeout=5)
        request = identity_pb2.BatchGetAccountsRequest(ids=sorted({u.account_id for u in page.users if u.account_id}))
        found = await self.identity.BatchGetAccounts(request, metadata=metadata, timeout=5)
        return page.users, {account.id: account for account in found.accounts}

    async def cases_page(self, metadata: Metadata) -> tuple[Any, dict[str, identity_pb2.User]]:
        cases = await self._cases(metadata)
        return cases, await self._requesters(cases, metadata)

    async def cases_comment_counts(
        self, metadata: Metadata
    ) -> tuple[Any, dict[str, identity_pb2.User], dict[str, int]]:
        cases = await self._cases(metadata)
        request = cases_pb2.BatchListCommentsRequest(case_ids=[case.id for case in cases], page_size=3)
        requesters, comments = await asyncio.gather(
            self._requesters(cases, metadata), self.cases.BatchListComments(request, metadata=metadata, timeout=5)
        )
        return cases, requesters, {page.case_id: page.total_count for page in comments.pages}

    async def cases_latest_comments(
        self, metadata: Metadata
    ) -> tuple[Any, dict[str, cases_pb2.CommentPage], dict[str, identity_pb2.User]]:
        cases = await self._cases(metadata)
        request = cases_pb2.BatchListCommentsRequest(case_ids=[case.id for case in cases], page_size=3)
        pages = (await self.cases.BatchListComments(request, metadata=metadata, timeout=5)).pages
        ids = sorted({comment.author_id for page in pages for comment in page.comments if comment.author_id})
        found = await self.identity.BatchGetUsers(
            identity_pb2.BatchGetUsersRequest(ids=ids), metadata=metadata, timeout=5
        )
        return cases, {page.case_id: page for page in pages}, {user.id: user for user in found.users}

    async def _cases(self, metadata: Metadata) -> Any:
        request = cases_pb2.ListCasesRequest(order=cases_pb2.UPDATED_DESC, page_size=50)
        return (await self.cases.ListCases(request, metadata=metadata, timeout=5)).cases

    async def _requesters(self, cases: Any, metadata: Metadata) -> dict[str, identity_pb2.User]:
        ids = sorted({case.requester_id for case in cases if case.requester_id})
        found = await self.identity.BatchGetUsers(
            identity_pb2.BatchGetUsersRequest(ids=ids), metadata=metadata, timeout=5
        )
        return {user.id: user for user in found.users}


@dataclass(frozen=True)
class Measurement:
    latencies_ms: list[float]
    rps: float


async def run(call: Callable[[], Awaitable[Any]], requests: int, concurrency: int) -> Measurement:
    latencies: list[float] = []
    remaining = requests

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Measurement(latencies, requests / (time.perf_counter() - started))


async def _serve(conn: Connection, gateway_url: str, floor_url: str, addresses: dict[str, str], token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    metadata = (("authorization", f"Bearer {token}"),)

    # Idle pooled connections are dropped before the servers' keep-alive (uvicorn's 5 s) closes
    # them: a round of another path outlasts it, and a request racing that close fails the bench.
    def connector() -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(limit=0, keepalive_timeout=2)

    async with (
        aiohttp.ClientSession(gateway_url, connector=connector(), headers=headers) as http,
        aiohttp.ClientSession(floor_url, connector=connector(), headers=headers) as floor,
        grpc.aio.insecure_channel(addresses["identity"]) as identity,
        grpc.aio.insecure_channel(addresses["cases"]) as cases,
    ):
        reads = Reads(identity_pb2_grpc.IdentityServiceStub(identity), cases_pb2_grpc.CasesServiceStub(cases))

        def via_http(http: aiohttp.ClientSession, query: str) -> Callable[[], Awaitable[Any]]:
            body = aiohttp.payload.BytesPayload(
                b'{"query":' + _json_string(query) + b"}", content_type="application/json"
            )

            async def call() -> None:
                async with http.post("/graphql", data=body) as response:
                    content = await response.read()
                    if response.status != 200 or b'"errors"' in content:
                        raise RuntimeError(f"{query[:20]!r} answered {response.status}: {content[:300]!r}")

            return call

        calls = (
            {("gateway", shape): via_http(http, query) for shape, query in SHAPES.items()}
            | {("floor", shape): via_http(floor, query) for shape, query in SHAPES.items()}
            | {("direct", shape): functools.partial(read, metadata) for shape, read in reads.by_shape.items()}
        )
        loop = asyncio.get_running_loop()
        while (order := await loop.run_in_executor(None, conn.recv)) is not None:
            path, shape, requests, concurrency = order
            conn.send(await run(calls[(path, shape)], requests, concurrency))


def _json_string(text: str) -> bytes:
    return json.dumps(text).encode()


def _main(conn: Connection, gateway_url: str, floor_url: str, addresses: dict[str, str], token: str) -> None:
    uvloop.run(_serve(conn, gateway_url, floor_url, addresses, token))


class Load:
    """The load process, driven from the bench's loop (which keeps serving while it waits)."""

    def __init__(self, gateway_url: str, floor_url: str, addresses: dict[str, str], token: str) -> None:
        """`addresses`: the identity and cases services' gRPC addresses, by service name."""
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_main, args=(child, gateway_url, floor_url, addresses, token), daemon=True
        )
        self._process.start()

    async def measure(self, path: str, shape: str, requests: int, concurrency: int) -> Measurement:
        self._conn.send((path, shape, requests, concurrency))
        result: Measurement = await asyncio.get_running_loop().run_in_executor(None, self._conn.recv)
        return result

    @property
    def pid(self) -> int:
        return int(self._process.pid or 0)

    def stop(self) -> None:
        self._conn.send(None)
        self._process.join(10)

"""`python -m devstack.bench_execution`: the gateway's own CPU per operation, without HTTP or gRPC.

The real schema and app run each bench shape against services that answer from memory, with fixed
replies (50 users over 5 accounts, 50 cases by 10 requesters) parsed from their bytes on each
call, as a channel parses them. Two layers: the executor (schema.execute with a verified
context) and the whole ASGI app (edge, middleware, view, token check, JSON, gzip), called as
uvicorn calls it. What is left is what the gateway's code decides.

bench_gateway's figures include uvicorn, gRPC and the machine's noise (±10 to 25 % between runs).
These figures are the same work repeated in one process, so a change of 50 µs on a page shows
here. To compare two checkouts, run this in each, in turn. Figures are the median and the best
of the rounds, in µs per operation.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from starlette.requests import Request

from devstack import asgi
from devstack.bench_load import SHAPES
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.context import PortalContext
from gateway.schema.root import schema
from portalkit.auth import Caller
from portalkit.service import settle_heap
from protos.billing.v1 import billing_pb2
from protos.cases.v1 import cases_pb2
from protos.contacts.v1 import contacts_pb2
from protos.identity.v1 import identity_pb2

# what a case list in a portal shows: the column values convert, not only the strings
BENCH_SHAPES = SHAPES | {
    "page of 50 cases, list columns": "{ cases(first: 50) { edges { node { id number subject status priority"
    " updatedAt requester { name } } } } }",
}
_START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def _stamped(message: Any, **stamps: datetime) -> Any:
    for name, when in stamps.items():
        getattr(message, name).FromDatetime(when)
    return message


def _users(count: int, accounts: int) -> list[identity_pb2.User]:
    return [
        _stamped(
            identity_pb2.User(
                id=f"usr_{i:04d}",
                email=f"user{i}@acme.test",
                name=f"User {i}",
                role=identity_pb2.ADMIN if i % 10 == 0 else identity_pb2.USER,
                status=identity_pb2.ACTIVE,
                account_id=f"acc_{i % accounts:04d}",
            ),
            created_at=_START + timedelta(hours=i),
            last_login_at=_START + timedelta(days=30, minutes=i),
        )
        for i in range(count)
    ]


def _cases(count: int, requesters: list[identity_pb2.User]) -> list[cases_pb2.Case]:
    return [
        _stamped(
            cases_pb2.Case(
                id=f"cas_{i:04d}",
                number=f"CS-{1000 + i}",
                ref_tag=f"[ref:cas_{i:04d}]",
                requester_email=requesters[i % len(requesters)].email,
                subject=f"Export fails for report {i}",
                description="The nightly export stops with an error after the first page." * 3,
                priority=cases_pb2.NORMAL,
                status=cases_pb2.OPEN,
                team=identity_pb2.CUSTOMER_CARE,
                channel=cases_pb2.WEB,
                account_id=requesters[i % len(requesters)].account_id,
                requester_id=requesters[i % len(requesters)].id,
            ),
            created_at=_START + timedelta(hours=i),
            updated_at=_START + timedelta(days=2, hours=i),
        )
        for i in range(count)
    ]


class MemoryServices:
    """The stubs' methods the shapes call, answering from fixed data (a stub method's signature)."""

    def __init__(self) -> None:
        self.users = _users(50, accounts=5)
        self.accounts = {
            f"acc_{i:04d}": identity_pb2.Account(id=f"acc_{i:04d}", number=f"A-{i}", name=f"Account {i}")
            for i in range(5)
        }
        self.cases = _cases(50, self.users[:10])
        self.by_id = {u.id: u for u in self.users}
        self.cases_by_id = {c.id: c for c in self.cases}
        self.calls = 0

    def comments(self, case_id: str, page_size: int) -> cases_pb2.CommentPage:
        """A case's first comments: two for every case, one from its requester and one from staff."""
        case = self.cases_by_id[case_id]
        written = [
            _stamped(
                cases_pb2.Comment(
                    id=f"com_{case_id}_{n}",
                    case_id=case_id,
                    author_id=author,
                    author_email=email,
                    body="Any news?",
                    channel=cases_pb2.WEB,
                ),
                created_at=case.created_at.ToDatetime(UTC) + timedelta(hours=n + 1),
            )
            for n, (author, email) in enumerate([(case.requester_id, case.requester_email), ("", "agent@support.test")])
        ]
        shown = written[:page_size]
        return cases_pb2.CommentPage(
            case_id=case_id, comments=shown, total_count=len(written), cursors=[c.id for c in shown]
        )

    def account_users(self, account_id: str, request: identity_pb2.BatchListUsersRequest) -> identity_pb2.UserPage:
        users = [u for u in self.users if u.account_id == account_id and request.role in (0, u.role)]
        shown = users[: request.page_size]
        return identity_pb2.UserPage(
            account_id=account_id,
            users=shown,
            cursors=[u.id for u in shown],
            total_count=len(users),
            next_page_token="more" if len(users) > len(shown) else "",
        )

    def account_contacts(self, account_id: str, page_size: int) -> contacts_pb2.ContactPage:
        """Three contacts for each account."""
        written = [
            contacts_pb2.Contact(
                id=f"con_{account_id}_{n}",
                account_id=account_id,
                first_name=f"C{n}",
                email=f"c{n}@x.test",
                user_id=f"usr_{int(account_id[-4:]):04d}" if n == 0 else "",  # the account's first user
            )
            for n in range(3)
        ]
        shown = written[:page_size]
        return contacts_pb2.ContactPage(
            account_id=account_id, contacts=shown, cursors=[c.id for c in shown], total_count=len(written)
        )

    def _answer(self, reply: Callable[[Any], Any]) -> Callable[..., Any]:
        """A stub method whose reply is parsed from its bytes on each call, as a channel's is."""
        wire: dict[bytes, tuple[Any, bytes]] = {}

        async def method(request: Any, **_: Any) -> Any:
            self.calls += 1
            key = request.SerializeToString()
            if key not in wire:
                answer = reply(request)
                wire[key] = (type(answer), answer.SerializeToString())
            message_type, data = wire[key]
            return message_type.FromString(data)

        return method

    def stubs(self) -> dict[str, Any]:
        cursors = [f"c{i}" for i in range(50)]
        identity = argparse.Namespace(
            GetMe=self._answer(lambda _: self.users[0]),
            ListUsers=self._answer(
                lambda _: identity_pb2.ListUsersResponse(users=self.users, cursors=cursors, total_count=500)
            ),
            BatchGetAccounts=self._answer(  # unknown ids are left out, as the service leaves them
                lambda r: identity_pb2.BatchGetAccountsResponse(
                    accounts=[self.accounts[i] for i in r.ids if i in self.accounts]
                )
            ),
            BatchGetUsers=self._answer(
                lambda r: identity_pb2.BatchGetUsersResponse(users=[self.by_id[i] for i in r.ids])
            ),
            ListAccounts=self._answer(
                lambda _: identity_pb2.ListAccountsResponse(
                    accounts=self.accounts.values(), cursors=list(self.accounts), total_count=len(self.accounts)
                )
            ),
            ListAccountAdmins=self._answer(
                lambda r: identity_pb2.ListAccountAdminsResponse(
                    admins=[u for u in self.users if u.account_id in r.account_ids and u.role == identity_pb2.ADMIN]
                )
            ),
            BatchListUsers=self._answer(
                lambda r: identity_pb2.BatchListUsersResponse(pages=[self.account_users(i, r) for i in r.account_ids])
            ),
        )
        every_contact = [c for account_id in self.accounts for c in self.account_contacts(account_id, 3).contacts]
        contacts = argparse.Namespace(
            ListContacts=self._answer(
                lambda r: contacts_pb2.ContactPage(
                    contacts=every_contact[: r.page_size],
                    cursors=[c.id for c in every_contact[: r.page_size]],
                    total_count=len(every_contact),
                )
            ),
            BatchListContacts=self._answer(
                lambda r: contacts_pb2.BatchListContactsResponse(
                    pages=[self.account_contacts(i, r.page_size) for i in r.account_ids]
                )
            ),
        )
        cases = argparse.Namespace(
            ListCases=self._answer(
                lambda _: cases_pb2.ListCasesResponse(cases=self.cases, cursors=cursors, total_count=500)
            ),
            BatchListComments=self._answer(
                lambda r: cases_pb2.BatchListCommentsResponse(pages=[self.comments(i, r.page_size) for i in r.case_ids])
            ),
        )
        billing = argparse.Namespace(
            BatchGetBillingSummaries=self._answer(
                lambda r: billing_pb2.BatchGetBillingSummariesResponse(
                    summaries=[  # none for the last account: one the caller may not see
                        billing_pb2.BillingSummary(
                            account_id=i,
                            account_balance=billing_pb2.Money(amount=f"{n * 100}.50", currency="USD"),
                            open_invoice_count=n,
                            payment_method_types=[billing_pb2.CARD] if n % 2 else [],
                        )
                        for n, i in enumerate(r.ids)
                        if i != "acc_0004"
                    ]
                )
            )
        )
        return {"identity": identity, "cases": cases, "contacts": contacts, "billing": billing}


def verified_context(clients: ServiceClients) -> PortalContext:
    """A request's context whose caller is already verified (the bench's support admin)."""
    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": [(b"host", b"portal.test")]}
    context = PortalContext(request=Request(scope), clients=clients, verifier=None, live=None, token="bench")  # type: ignore[arg-type]
    context._caller = CALLER
    return context


CALLER = Caller(user_id="usr_0000", role="SUPPORT_ADMIN", account_id="", session_id="ses_bench")
# a token the gateway's claim cache takes (it reads `exp`); BenchVerifier stands for the signature check
TOKEN = jwt.encode({"sub": CALLER.user_id, "exp": 4_102_444_800}, "bench-only-key-of-32-bytes-or-more!", "HS256")


class BenchVerifier:
    async def verify(self, token: str) -> Caller:
        if token != TOKEN:
            raise ValueError("not the bench's token")
        return CALLER


Operation = Callable[[bool], Awaitable[dict[str, Any]]]  # (read the answer?) → its data, or {}


def executor_operation(clients: ServiceClients, query: str) -> Operation:
    """The schema's execute, as the view calls it, with a context already verified."""

    async def operation(read: bool) -> dict[str, Any]:
        context = verified_context(clients)
        result = await schema.execute(query, context_value=context)
        context.release()  # as the view does once the answer is made
        if result.errors or not result.data:
            raise RuntimeError(f"{query}: {result.errors}")
        return result.data

    return operation


def app_operation(clients: ServiceClients, query: str) -> Operation:
    """A POST through the gateway's whole ASGI app (edge, access log, size limit, gzip, the
    view, token check, execution, JSON), as uvicorn hands it over."""
    app = create_app(clients, BenchVerifier(), None)  # type: ignore[arg-type]
    body = json.dumps({"query": query}).encode()
    headers = [
        (b"host", b"portal.test"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", f"Bearer {TOKEN}".encode()),
        (b"accept-encoding", b"gzip, deflate"),
    ]

    async def operation(read: bool) -> dict[str, Any]:
        sent = await asgi.call(app, "POST", "/graphql", headers, body)
        if not read:  # what a client does with the answer is not the gateway's cost
            if sent[0]["status"] != 200:
                raise RuntimeError(f"{query}: {sent[0]['status']}")
            return {}
        status, payload = sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])
        if (b"content-encoding", b"gzip") in sent[0]["headers"]:
            payload = gzip.decompress(payload)
        answer = json.loads(payload)
        if status != 200 or answer.get("errors") or not answer.get("data"):
            raise RuntimeError(f"{query}: {status} {answer}")
        return answer["data"]  # type: ignore[no-any-return]

    return operation


def _check(shape: str, data: dict[str, Any]) -> None:
    """The bench measures full answers: 50 nodes with their references for a page."""
    if shape == "get":
        assert data["me"]["email"] == "user0@acme.test", data
        return
    nodes = [edge["node"] for edge in next(iter(data.values()))["edges"]]
    assert len(nodes) == 50 and all(node["id"] for node in nodes), shape
    for name, value in nodes[0].items():
        if isinstance(value, dict):  # a reference or a nested page: every node has its own
            assert all(node[name] and all(v is not None for v in node[name].values()) for node in nodes), shape
    if "comments" in nodes[0]:
        assert all(node["comments"]["totalCount"] == 2 for node in nodes), shape


LAYERS = {"executor": executor_operation, "app": app_operation}


async def measure(
    shape: str, layer: str, operations: int, rounds: int, settle: Callable[[], None] = settle_heap
) -> tuple[float, float, float]:
    """(median µs, best µs, service calls) per operation of `shape` through `layer`; `settle`
    freezes the heap as the gateway does after startup (a test passes a no-op: its process is
    not the bench's)."""
    services = MemoryServices()
    operation = LAYERS[layer](ServiceClients(addresses={}, stubs=services.stubs()), BENCH_SHAPES[shape])
    _check(shape, await operation(True))
    for _ in range(50):  # the document caches fill, the code paths warm
        await operation(False)
    settle()
    services.calls = 0
    per_round: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(operations):
            await operation(False)
        per_round.append((time.perf_counter() - started) / operations * 1e6)
    return statistics.median(per_round), min(per_round), services.calls / (operations * rounds)


async def main(shapes: list[str], operations: int, rounds: int) -> None:
    print(f"{'shape':34} {'executor µs':>11} {'best':>6} {'app µs':>8} {'best':>6} {'calls':>6}")
    for shape in shapes:
        executor, executor_best, calls = await measure(shape, "executor", operations, rounds)
        app, app_best, _ = await measure(shape, "app", operations, rounds)
        print(f"{shape:34} {executor:11.0f} {executor_best:6.0f} {app:8.0f} {app_best:6.0f} {calls:6.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", action="append", choices=list(BENCH_SHAPES), help="only these shapes")
    parser.add_argument("--operations", type=int, default=200, help="operations per round")
    parser.add_argument("--rounds", type=int, default=15)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.shape or list(BENCH_SHAPES), arguments.operations, arguments.rounds))

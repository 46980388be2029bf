"""`python -m devstack.bench`: latency of the embedded stack, as a table of medians, p99s and ratios.

Same process, loopback, 2-core machine: compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc.aio
import httpx
from aiosmtpd.controller import Controller
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from devstack.embedded import start_stack
from portalkit.auth import Caller
from portalkit.telemetry import add_span_processor, setup_logging, setup_telemetry
from protos.billing.v1 import billing_pb2, billing_pb2_grpc
from protos.cases.v1 import cases_pb2, cases_pb2_grpc
from protos.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from protos.identity.v1 import identity_pb2, identity_pb2_grpc
from services.billing.demo import demo_usages
from services.billing.demo import load_demo as load_demo_billing
from services.cases.demo import DemoDirectory
from services.cases.demo import load_demo as load_demo_cases
from services.cases.domain import Cases
from services.contacts.demo import SYSTEM
from services.contacts.demo import load_demo as load_demo_contacts
from services.identity.demo import DEMO_PASSWORD, load_demo

CONTACTS_PAGE = (
    "{ contacts(first: 100) { totalCount edges { cursor node { id email portalAccessStatus user { email } } } } }"
)
CREATE_CONTACT = "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken user { id } } }"
USAGE_RECORDS = 100_000
USAGES_VIA_GATEWAY = f"100 usages by date, {USAGE_RECORDS // 1000}k, via gateway"
USAGES_PAGE = """query($f: UsageFilter) { usages(filter: $f, first: 100) { totalCount
  edges { cursor node { id description date quantity unit invoiced } } } }"""
EXPORT = "mutation { exportUsages(format: XLSX) { id } }"
EXPORT_STATE = "query($id: ID!) { usageExport(id: $id) { status rowCount } }"
PAY = """mutation($i: PaymentInput!, $k: String!) { makePayment(input: $i, idempotencyKey: $k) { status } }"""


async def measure(call: Callable[[], Awaitable[object]], runs: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def p99(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.99) - 1)]


class MailArrivals:
    """A real SMTP server in the bench: when each recipient's mail arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        for rcpt in getattr(envelope, "rcpt_tos", []):
            self.arrived[rcpt.lower()] = time.perf_counter()
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def count_calls(spans: InMemorySpanExporter) -> int:
    calls = [
        s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT and (s.attributes or {}).get("rpc.system")
    ]
    spans.clear()
    return len(calls)


async def main(runs: int) -> None:
    os.environ.setdefault("PORTAL_LOG_LEVEL", "WARNING")
    mail = MailArrivals()
    smtp = Controller(mail, hostname="127.0.0.1", port=free_port())
    smtp.start()
    spans = InMemorySpanExporter()
    add_span_processor(SimpleSpanProcessor(spans))
    stack = await start_stack(
        {"smtp_url": f"smtp://127.0.0.1:{smtp.port}", "argon2_profile": "standard", "outbox_poll_seconds": 0.5}
    )
    try:
        logins = await load_demo(stack.services["identity"].domain)
        accounts = {login.account: login.account_id for login in logins if login.account_id}
        contacts_domain = stack.services["contacts"].domain
        await load_demo_contacts(contacts_domain, accounts)
        # 120 contacts with portal access: identity invites each, so each has a user to resolve
        for n in range(120):
            values = {"first_name": f"Bench{n}", "last_name": f"Contact{n:04d}", "email": f"bench{n}@acme.test"}
            await contacts_domain.create_contact(SYSTEM, accounts["ACME-001"], values)
        linked = {"is_user": True, "search": "bench"}
        while (await contacts_domain.list_contacts(SYSTEM, accounts["ACME-001"], linked, "", 1, "")).total < 120:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # identity's invitation.sent events link each contact to its user
        # Idle connections are dropped by the client before uvicorn's 5 s keep-alive timeout: the
        # bench's own setup steps (bulk inserts) block this loop, and a request written just as the
        # server's overdue timeout fires would be cut off.
        limits = httpx.Limits(keepalive_expiry=2.0)
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30, limits=limits) as http:
            login = (
                await http.post(
                    "/graphql", json={"query": LOGIN, "variables": {"e": "user@acme.test", "p": DEMO_PASSWORD}}
                )
            ).json()
            token = login["data"]["login"]["accessToken"]
            user_id = login["data"]["login"]["user"]["id"]
            headers = {"Authorization": f"Bearer {token}"}

            async def gateway_me() -> object:
                response = await http.post("/graphql", json={"query": "{ me { id email role } }"}, headers=headers)
                assert response.status_code == 200 and "errors" not in response.json()
                return response

            def reset(email: str) -> Callable[[], Awaitable[object]]:
                body = {"query": "mutation($e: String!) { requestPasswordReset(email: $e) }", "variables": {"e": email}}
                return lambda: http.post("/graphql", json=body)

            admin_login = (
                await http.post(
                    "/graphql", json={"query": LOGIN, "variables": {"e": "admin@acme.test", "p": DEMO_PASSWORD}}
                )
            ).json()
            admin_token = admin_login["data"]["login"]["accessToken"]
            admin_headers = {"Authorization": f"Bearer {admin_token}"}

            async def gateway_contacts() -> object:
                response = await http.post("/graphql", json={"query": CONTACTS_PAGE}, headers=admin_headers)
                body = response.json()
                assert response.status_code == 200 and "errors" not in body, body
                edges = body["data"]["contacts"]["edges"]
                assert len(edges) == 100 and sum(1 for e in edges if e["node"]["user"]) >= 90
                return response

            invited: list[float] = []

            async def contact_to_invitation_mail() -> object:
                email = f"invitee.{uuid.uuid4().hex[:10]}@acme.test"
                variables = {"i": {"firstName": "Ina", "lastName": "Invitee", "email": email}}
                started = time.perf_counter()
                response = await http.post(
                    "/graphql", json={"query": CREATE_CONTACT, "variables": variables}, headers=admin_headers
                )
                assert "errors" not in response.json(), response.json()
                while email not in mail.arrived:  # noqa: ASYNC110 - the SMTP server runs on its own thread
                    await asyncio.sleep(0.002)
                invited.append((mail.arrived[email] - started) * 1000)
                return response

            async with (
                grpc.aio.insecure_channel(stack.address("identity")) as channel,
                grpc.aio.insecure_channel(stack.address("contacts")) as contacts_channel,
            ):
                stub = identity_pb2_grpc.IdentityServiceStub(channel)
                contacts_stub = contacts_pb2_grpc.ContactsServiceStub(contacts_channel)
                metadata = (("authorization", f"Bearer {token}"),)
                admin_metadata = (("authorization", f"Bearer {admin_token}"),)

                async def grpc_get_user() -> object:
                    return await stub.GetUser(identity_pb2.GetUserRequest(id=user_id), metadata=metadata, timeout=5)

                async def grpc_contacts() -> object:
                    """The same reads the gateway makes, made directly: the page, then its users."""
                    page = await contacts_stub.ListContacts(
                        contacts_pb2.ListContactsRequest(page_size=100), metadata=admin_metadata, timeout=5
                    )
                    ids = [c.user_id for c in page.contacts if c.user_id]
                    request = identity_pb2.BatchGetUsersRequest(ids=ids)
                    return await stub.BatchGetUsers(request, metadata=admin_metadata, timeout=5)

                await gateway_contacts()  # warm: signing keys fetched, channels connected
                spans.clear()
                await gateway_contacts()
                calls_per_page = count_calls(spans)
                rows = [
                    ("me via gateway (HTTP+GraphQL+gRPC)", await measure(gateway_me, runs)),
                    ("GetUser direct gRPC", await measure(grpc_get_user, runs)),
                    ("100 contacts + user via gateway", await measure(gateway_contacts, runs // 3)),
                    ("ListContacts + BatchGetUsers direct", await measure(grpc_contacts, runs // 3)),
                    ("requestPasswordReset, known email", await measure(reset("user@acme.test"), runs // 3)),
                    ("requestPasswordReset, unknown email", await measure(reset("nobody@acme.test"), runs // 3)),
                ]
                await measure(contact_to_invitation_mail, max(20, runs // 10), warmup=3)
                rows.append(("createContact -> invitation mail", invited[3:]))
                rows += await billing_rows(stack, http, headers, metadata, accounts, runs)
            case_rows, case_notes = await bench_cases(stack, http, logins, mail, spans, runs)
            rows += case_rows
            rows += await bench_knowledge_and_mail(stack, http, runs)
    finally:
        await stack.stop()
        smtp.stop()

    print(f"\n{'operation':<40} {'runs':>5} {'median ms':>10} {'p99 ms':>9}")
    for name, samples in rows:
        print(f"{name:<40} {len(samples):>5} {statistics.median(samples):>10.2f} {p99(samples):>9.2f}")
    medians = {name: statistics.median(samples) for name, samples in rows}
    print(f"\nratio me-via-gateway / GetUser-direct (median): {medians[rows[0][0]] / medians[rows[1][0]]:.2f}")
    print(f"ratio p99: {p99(rows[0][1]) / p99(rows[1][1]):.2f}")
    print(
        f"ratio 100 contacts via gateway / the same reads direct (median): {medians[rows[2][0]] / medians[rows[3][0]]:.2f}"
        f"; gRPC calls per page through the gateway: {calls_per_page}"
    )
    print(
        f"ratio reset known / unknown (median; ~1 means no user enumeration by timing): "
        f"{medians[rows[4][0]] / medians[rows[5][0]]:.2f}"
    )
    print(
        f"ratio 100 usages by date range via gateway / ListUsages direct (median, {USAGE_RECORDS:,} records): "
        f"{medians[USAGES_VIA_GATEWAY] / medians['ListUsages by date direct gRPC']:.2f}; 1,000-row XLSX export "
        f"built in {medians['1,000-row XLSX export to READY'] / 1000:.2f} s (median)"
    )
    print("\n".join(case_notes))


CASES_PAGE = """{ cases(first: 100) { totalCount edges { cursor node { id number subject status
  requester { email } assignee { email } } } } }"""
CREATE_CASE = "mutation($i: CreateCaseInput!) { createCase(input: $i) { id number refTag } }"


async def bench_cases(
    stack: Any, http: httpx.AsyncClient, logins: list[Any], mail: MailArrivals, spans: InMemorySpanExporter, runs: int
) -> tuple[list[tuple[str, list[float]]], list[str]]:
    """Issue 11: the 100-case list with requester and assignee (gateway vs the same reads direct, and
    rps), and case creation (counter + outbox + autoreply mail)."""
    cases_domain = stack.services["cases"].domain
    await load_demo_cases(cases_domain, logins)
    by_email = {login.email: login for login in logins}
    demo = Cases(cases_domain.store, cases_domain.clock, DemoDirectory(logins), cases_domain.mails, cases_domain.secret)
    manager, agent = by_email["manager@acme.test"], by_email["agent@support.test"]
    as_manager = Caller(manager.user_id, manager.role, manager.account_id, "bench")
    as_agent = Caller(agent.user_id, agent.role, "", "bench", "CUSTOMER_CARE")
    for n in range(110):
        case = await demo.create_case(as_manager, {"subject": f"Bench case {n}", "description": "Load."})
        if n % 2:
            await demo.assign(as_agent, case["_id"], "", agent.user_id)

    async def login(email: str) -> str:
        body = {"query": LOGIN, "variables": {"e": email, "p": DEMO_PASSWORD}}
        return str((await http.post("/graphql", json=body)).json()["data"]["login"]["accessToken"])

    token = await login("manager@acme.test")
    headers = {"Authorization": f"Bearer {token}"}
    metadata = (("authorization", f"Bearer {token}"),)

    async def gateway_cases() -> object:
        response = await http.post("/graphql", json={"query": CASES_PAGE}, headers=headers)
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        edges = body["data"]["cases"]["edges"]
        assert len(edges) == 100 and all(e["node"]["requester"] for e in edges)
        assert any(e["node"]["assignee"] for e in edges)
        return response

    async with (
        grpc.aio.insecure_channel(stack.address("cases")) as cases_channel,
        grpc.aio.insecure_channel(stack.address("identity")) as identity_channel,
    ):
        cases_stub = cases_pb2_grpc.CasesServiceStub(cases_channel)
        identity_stub = identity_pb2_grpc.IdentityServiceStub(identity_channel)

        async def grpc_cases() -> object:
            """The same reads the gateway makes, made directly: the page, then its people."""
            page = await cases_stub.ListCases(cases_pb2.ListCasesRequest(page_size=100), metadata=metadata, timeout=5)
            ids = list(
                dict.fromkeys(
                    [c.requester_id for c in page.cases] + [c.assignee_id for c in page.cases if c.assignee_id]
                )
            )
            request = identity_pb2.BatchGetUsersRequest(ids=ids)
            return await identity_stub.BatchGetUsers(request, metadata=metadata, timeout=5)

        await gateway_cases()
        spans.clear()
        await gateway_cases()
        calls_per_page = count_calls(spans)
        via_gateway = await measure(gateway_cases, max(30, runs // 3))
        direct = await measure(grpc_cases, max(30, runs // 3))

    concurrency, total = 8, max(80, runs // 2)
    started = time.perf_counter()

    async def worker(count: int) -> None:
        for _ in range(count):
            await gateway_cases()

    await asyncio.gather(*(worker(total // concurrency) for _ in range(concurrency)))
    rps = (total // concurrency * concurrency) / (time.perf_counter() - started)

    user_token = await login("user@acme.test")
    user_headers = {"Authorization": f"Bearer {user_token}"}
    to_mail: list[float] = []

    async def create_case() -> object:
        variables = {"i": {"subject": f"Bench {uuid.uuid4().hex[:8]}", "description": "Created by the bench."}}
        started = time.perf_counter()
        response = await http.post(
            "/graphql", json={"query": CREATE_CASE, "variables": variables}, headers=user_headers
        )
        assert "errors" not in response.json(), response.json()
        while mail.arrived.get("user@acme.test", 0.0) < started:  # noqa: ASYNC110 - SMTP runs on its own thread
            await asyncio.sleep(0.002)
        to_mail.append((mail.arrived["user@acme.test"] - started) * 1000)
        return response

    created = await measure(create_case, max(20, runs // 10), warmup=3)
    rows = [
        ("100 cases + their people via gateway", via_gateway),
        ("ListCases + BatchGetUsers direct", direct),
        ("createCase via gateway", created),
        ("createCase -> autoreply mail", to_mail[3:]),
    ]
    ratio = statistics.median(via_gateway) / statistics.median(direct)
    notes = [
        f"ratio 100 cases via gateway / the same reads direct (median): {ratio:.2f}; "
        f"gRPC calls per page through the gateway: {calls_per_page}",
        f"100-case page through the gateway: {rps:.1f} rps with {concurrency} concurrent clients",
    ]
    return rows, notes


async def billing_rows(
    stack: Any, http: httpx.AsyncClient, headers: dict[str, str], metadata: Any, accounts: dict[str, str], runs: int
) -> list[tuple[str, list[float]]]:
    """usages page of 100 by date range over 100,000 records (gateway and direct), a 1,000-row XLSX
    export from request to READY, makePayment."""
    from datetime import UTC, datetime, timedelta

    from portalkit.auth import Caller
    from services.billing import rules
    from services.billing.domain import SYSTEM as BILLING_SYSTEM

    billing = stack.services["billing"].domain
    acme = accounts["ACME-001"]
    await load_demo_billing(billing, accounts, usage_records=0)
    today = rules.eastern_today(billing.clock.now())
    for start in range(0, USAGE_RECORDS, 10_000):
        batch = demo_usages(billing, acme, today, 10_000, days=365, seed=start)
        await billing.store.bulk_insert_usages(batch)
    window = {"from": (today - timedelta(days=60)).isoformat(), "to": (today - timedelta(days=30)).isoformat()}

    async def gateway_usages() -> object:
        response = await http.post("/graphql", json={"query": USAGES_PAGE, "variables": {"f": window}}, headers=headers)
        body = response.json()
        assert "errors" not in body and len(body["data"]["usages"]["edges"]) == 100, body
        return response

    async def export_ready() -> object:
        started = (await http.post("/graphql", json={"query": EXPORT}, headers=headers)).json()
        export_id = started["data"]["exportUsages"]["id"]
        while True:
            try:
                polled = await http.post(
                    "/graphql", json={"query": EXPORT_STATE, "variables": {"id": export_id}}, headers=headers
                )
            except httpx.TransportError:
                # the in-memory database builds the export inside this process's loop, stalling it
                # for seconds; a keep-alive connection cut meanwhile is polled again
                continue
            state = polled.json()["data"]["usageExport"]
            if state["status"] == "READY":
                assert state["rowCount"] == 1000
                return state
            await asyncio.sleep(0.01)

    user = await billing.store.list_methods(acme)
    caller = Caller(user_id="bench", role="USER", account_id=acme, session_id="bench")
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": datetime.now(UTC).year + 2, "cvc": "123"}
    method = (
        user[0] if user else await billing.add_payment_method(caller, acme, {"card": {**card, "name_on_card": "B"}})
    )
    payments = max(20, runs // 10)
    invoices = []
    for _ in range(payments + 5):
        values: dict[str, Any] = {
            "account_id": acme,
            "issue_date": today.isoformat(),
            "due_date": (today + timedelta(days=30)).isoformat(),
        }
        values["lines"] = [{"description": "Bench", "quantity": "1", "unit_price": "10.00"}]
        invoices.append(await billing.issue_invoice(BILLING_SYSTEM, values))

    async def make_payment() -> object:
        invoice = invoices.pop()
        variables = {"i": {"paymentMethodId": method["_id"], "invoiceIds": [invoice["_id"]]}, "k": uuid.uuid4().hex}
        body = (await http.post("/graphql", json={"query": PAY, "variables": variables}, headers=headers)).json()
        assert body["data"]["makePayment"]["status"] == "SUCCEEDED", body
        return body

    async with grpc.aio.insecure_channel(stack.address("billing")) as channel:
        stub = billing_pb2_grpc.BillingServiceStub(channel)
        request = billing_pb2.ListUsagesRequest(page_size=100)
        setattr(request.filter, "from", window["from"])
        request.filter.to = window["to"]

        async def grpc_usages() -> object:
            return await stub.ListUsages(request, metadata=metadata, timeout=30)

        few = max(10, runs // 30)
        return [
            (USAGES_VIA_GATEWAY, await measure(gateway_usages, few, warmup=2)),
            ("ListUsages by date direct gRPC", await measure(grpc_usages, few, warmup=2)),
            ("1,000-row XLSX export to READY", await measure(export_ready, 5, warmup=1)),
            ("makePayment via gateway", await measure(make_payment, payments, warmup=5)),
        ]


KB_SEARCH = (
    """query($q: String!) { knowledgeSearch(query: $q, first: 10) { score highlight article { id slug title } } }"""
)
KB_ARTICLES = 5_000
KB_QUERIES = ["card declined", "password reset email", "webhook retries", "autopay failed", "invoice pdf", "refund"]
CASE_SEARCH = "query($s: String) { cases(filter: {search: $s}) { totalCount } }"


async def bench_knowledge_and_mail(stack: Any, http: httpx.AsyncClient, runs: int) -> list[tuple[str, list[float]]]:
    """Issue 12: knowledgeSearch over 5,000 articles through the gateway (the per-keystroke suggestion
    path), and an inbound mail from the SMTP handshake to its case visible in the graph."""
    import random

    import aiosmtplib

    from services.cases.articles import DEMO_ARTICLES
    from services.cases.demo import article_document

    cases_domain = stack.services["cases"].domain
    words = sorted({w.lower() for a in DEMO_ARTICLES for w in a[4].split() if w.isalpha() and len(w) > 3})
    chooser = random.Random(12)
    now = cases_domain.clock.now()
    articles = []
    for n in range(KB_ARTICLES):
        slug, product, title, tags, body = DEMO_ARTICLES[n % len(DEMO_ARTICLES)]
        extra = " ".join(chooser.choices(words, k=60))
        articles.append(article_document(f"{slug}-{n}", f"{title} ({n})", f"{body} {extra}", product, tags, now))
    await cases_domain.load_articles(articles)
    login = {"query": LOGIN, "variables": {"e": "user@acme.test", "p": DEMO_PASSWORD}}
    token = (await http.post("/graphql", json=login)).json()["data"]["login"]["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    turn = iter(range(10**9))

    async def knowledge_search() -> object:
        query = KB_QUERIES[next(turn) % len(KB_QUERIES)]
        response = await http.post("/graphql", json={"query": KB_SEARCH, "variables": {"q": query}}, headers=headers)
        found = response.json()
        assert "errors" not in found and len(found["data"]["knowledgeSearch"]) == 10, found
        return response

    searched = await measure(knowledge_search, max(100, runs))
    port = stack.services["cases"].listener("inbound").port

    async def mail_to_case() -> object:
        subject = f"Bench mail {uuid.uuid4().hex[:10]}"
        raw = f"From: user@acme.test\r\nTo: support@portal.test\r\nSubject: {subject}\r\n"
        raw += f"Message-ID: <{uuid.uuid4().hex}@bench>\r\n\r\nThe bench mailed this.\r\n"
        await aiosmtplib.send(
            raw.encode(), sender="user@acme.test", recipients=["support@portal.test"], hostname="127.0.0.1", port=port
        )
        variables = {"s": subject}
        while True:
            response = await http.post("/graphql", json={"query": CASE_SEARCH, "variables": variables}, headers=headers)
            if response.json()["data"]["cases"]["totalCount"] == 1:
                return response

    mailed = await measure(mail_to_case, max(20, runs // 10), warmup=3)
    return [
        (f"knowledgeSearch, {KB_ARTICLES:,} articles, via gateway", searched),
        ("inbound mail accepted -> case in graph", mailed),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    setup_logging("WARNING")
    setup_telemetry("portal-bench")
    asyncio.run(main(args.runs))

"""Billing reads end to end through the gateway (issue 13): the dashboard summary, invoices with
status and date filters, credits, payments, usage with its filters, paging, Decimal money, Eastern
dates and OVERDUE at the day boundary, the roles matrix for reads, and back-office input."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from opentelemetry.trace import SpanKind

from tests.support.events import tap
from tests.support.graphql import code_of

EASTERN = ZoneInfo("America/New_York")
INVOICE_FIELDS = "id number issueDate dueDate status total { amount currency } balanceDue { amount currency } pdfUrl"
SUMMARY = """query($a: ID) { billingSummary(accountId: $a) {
  accountBalance { amount currency } openInvoiceCount canMakePayment paymentMethodTypes
  lastInvoice { id number } lastPayment { id number status amount { amount } }
  autopay { enabled paymentMethod { id } } } }"""
INVOICES = f"""query($a: ID, $f: InvoiceFilter, $first: Int, $after: String) {{
  invoices(accountId: $a, filter: $f, first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {INVOICE_FIELDS} lines {{ description
    quantity unitPrice {{ amount }} amount {{ amount }} }} }} }} }} }}"""
INVOICE = f"query($id: ID!) {{ invoice(id: $id) {{ {INVOICE_FIELDS} }} }}"
USAGES = """query($a: ID, $f: UsageFilter, $first: Int, $after: String) {
  usages(accountId: $a, filter: $f, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id description date quantity unit invoiced invoice { number } } } } }"""
CREDITS = """query($a: ID) { credits(accountId: $a) { totalCount edges { node { id number date amount { amount currency }
  balance { amount } reference } } } }"""
PAYMENTS = """query($a: ID, $first: Int, $after: String) { payments(accountId: $a, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { id number date methodDescription amount { amount currency } status failureReason
  invoices { number } } } } }"""
ISSUE = f"mutation($i: IssueInvoiceInput!) {{ issueInvoice(input: $i) {{ {INVOICE_FIELDS} }} }}"
RECORD = "mutation($rows: [UsageRecordInput!]!) { recordUsages(input: $rows) }"
NODE = (
    "query($id: ID!) { node(id: $id) { id ... on Invoice { number } ... on Usage { unit } ... on Credit { number } } }"
)


def eastern_today() -> date:
    return datetime.now(EASTERN).date()


async def acme_id(demo) -> str:
    return demo["admin@acme.test"].account_id


async def issue(
    gql, tokens, account_id: str, due: date, *lines: tuple[str, str, str], issued: date | None = None
) -> dict:
    root = await tokens("root@support.test")
    rows = [{"description": d, "quantity": q, "unitPrice": p} for d, q, p in lines or [("Consulting", "2", "125.50")]]
    variables = {
        "i": {
            "accountId": account_id,
            "issueDate": (issued or min(due, eastern_today())).isoformat(),
            "dueDate": due.isoformat(),
            "lines": rows,
        }
    }
    return (await gql.ok(ISSUE, variables, root))["issueInvoice"]


async def all_invoices(gql, token: str, filter: dict | None = None, account: str | None = None) -> list[dict]:
    found, after = [], None
    while True:
        page = (await gql.ok(INVOICES, {"a": account, "f": filter, "first": 3, "after": after}, token))["invoices"]
        found += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert len(found) == page["totalCount"]
            return found
        after = page["pageInfo"]["endCursor"]


async def test_demo_invoices_come_in_every_status_with_decimal_money_and_eastern_dates(gql, tokens):
    manager = await tokens("manager@acme.test")
    invoices = await all_invoices(gql, manager)
    statuses = {i["status"] for i in invoices}
    assert {"OPEN", "PARTIALLY_PAID", "PAID", "OVERDUE", "VOID"} <= statuses
    for invoice in invoices:
        total, balance = Decimal(invoice["total"]["amount"]), Decimal(invoice["balanceDue"]["amount"])
        assert invoice["total"]["amount"] == f"{total:.2f}" and invoice["total"]["currency"] == "USD"
        assert sum(Decimal(line["amount"]["amount"]) for line in invoice["lines"]) == total
        if invoice["status"] in ("PAID", "VOID"):
            assert balance == 0
        if invoice["status"] == "PARTIALLY_PAID":
            assert 0 < balance < total
        if invoice["status"] == "OVERDUE":
            assert date.fromisoformat(invoice["dueDate"]) < eastern_today()
        assert invoice["pdfUrl"].startswith("https://portal.example.test/downloads/invoices/")
    dates = [i["issueDate"] for i in invoices]
    assert dates == sorted(dates, reverse=True)  # newest first

    overdue = await all_invoices(gql, manager, {"status": ["OVERDUE"]})
    assert overdue and {i["status"] for i in overdue} == {"OVERDUE"}
    open_or_paid = await all_invoices(gql, manager, {"status": ["OPEN", "PAID"]})
    assert {i["status"] for i in open_or_paid} == {"OPEN", "PAID"}
    cutoff = (eastern_today() - timedelta(days=50)).isoformat()
    recent = await all_invoices(gql, manager, {"from": cutoff})
    assert recent and all(i["issueDate"] >= cutoff for i in recent)
    old = await all_invoices(gql, manager, {"to": cutoff})
    assert {i["id"] for i in old} | {i["id"] for i in recent} == {i["id"] for i in invoices}


async def test_the_dashboard_summary_adds_up_and_answers_for_the_caller(gql, tokens, demo):
    account = await acme_id(demo)
    invoices = await all_invoices(gql, await tokens("user@acme.test"))
    payable = [i for i in invoices if i["status"] in ("OPEN", "PARTIALLY_PAID", "OVERDUE")]
    for email in ("user@acme.test", "manager@acme.test", "admin@acme.test"):
        summary = (await gql.ok(SUMMARY, {}, await tokens(email)))["billingSummary"]
        assert Decimal(summary["accountBalance"]["amount"]) == sum(Decimal(i["balanceDue"]["amount"]) for i in payable)
        assert summary["openInvoiceCount"] == len(payable)
        assert summary["canMakePayment"] is True  # every portal user of the account pays (seed 004)
        assert summary["paymentMethodTypes"] == ["CARD", "BANK_ACCOUNT"]
        assert summary["lastInvoice"]["id"] == next(i["id"] for i in invoices if i["status"] != "VOID")
        assert summary["lastPayment"]["status"] == "SUCCEEDED"
    for staff in ("agent@support.test", "root@support.test"):
        summary = (await gql.ok(SUMMARY, {"a": account}, await tokens(staff)))["billingSummary"]
        assert summary["canMakePayment"] is False  # staff read only
        assert summary["openInvoiceCount"] == len(payable)
    staff_without_account = await gql.error(SUMMARY, {}, await tokens("agent@support.test"))
    assert code_of(staff_without_account) == "BAD_USER_INPUT"
    globex = await tokens("admin@globex.test")
    assert code_of(await gql.error(SUMMARY, {"a": account}, globex)) == "FORBIDDEN"
    assert (await gql.ok(SUMMARY, {}, globex))["billingSummary"]["openInvoiceCount"] == 1
    nested = await gql.ok("{ account { number billing { openInvoiceCount } } }", {}, await tokens("user@acme.test"))
    assert nested["account"]["billing"]["openInvoiceCount"] == len(payable)


async def test_another_account_sees_none_of_acmes_billing(gql, tokens, demo):
    acme_invoice = (await all_invoices(gql, await tokens("admin@acme.test")))[0]
    globex = await tokens("admin@globex.test")
    assert (await gql.ok(INVOICE, {"id": acme_invoice["id"]}, globex))["invoice"] is None
    assert (await gql.ok(NODE, {"id": acme_invoice["id"]}, globex))["node"] is None
    account = await acme_id(demo)
    for query in (INVOICES, USAGES, CREDITS, PAYMENTS):
        assert code_of(await gql.error(query, {"a": account}, globex)) == "FORBIDDEN"
    own = [i["id"] for i in await all_invoices(gql, globex)]
    assert acme_invoice["id"] not in own
    agent = await tokens("agent@support.test")
    assert (await gql.ok(NODE, {"id": acme_invoice["id"]}, agent))["node"]["number"] == acme_invoice["number"]
    assert code_of(await gql.error(INVOICE, {"id": acme_invoice["id"]})) == "UNAUTHENTICATED"


async def test_credits_and_payments_succeeded_and_failed(gql, tokens):
    user = await tokens("user@acme.test")
    credits = (await gql.ok(CREDITS, {}, user))["credits"]
    assert credits["totalCount"] >= 2
    for edge in credits["edges"]:
        credit = edge["node"]
        assert Decimal(credit["balance"]["amount"]) <= Decimal(credit["amount"]["amount"])
        assert credit["amount"]["currency"] == "USD" and credit["number"].startswith("CR-")
    payments, after = [], None
    while True:
        page = (await gql.ok(PAYMENTS, {"first": 2, "after": after}, user))["payments"]
        payments += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    statuses = {p["status"] for p in payments}
    assert {"SUCCEEDED", "FAILED"} <= statuses
    failed = next(p for p in payments if p["status"] == "FAILED")
    assert failed["failureReason"] and failed["invoices"][0]["number"]
    assert all(p["invoices"] for p in payments)
    dates = [p["date"] for p in payments]
    assert dates == sorted(dates, reverse=True)


async def test_usage_filters_and_paging_over_the_demo_records(gql, tokens, demo):
    user = await tokens("user@acme.test")
    everything = (await gql.ok(USAGES, {"first": 100}, user))["usages"]
    assert everything["totalCount"] >= 3000
    assert len(everything["edges"]) == 100
    days = [e["node"]["date"] for e in everything["edges"]]
    assert days == sorted(days, reverse=True)
    start, end = (eastern_today() - timedelta(days=20)).isoformat(), (eastern_today() - timedelta(days=10)).isoformat()
    window = {"from": start, "to": end}
    seen, after, total = set(), None, None
    while True:
        page = (await gql.ok(USAGES, {"f": window, "first": 100, "after": after}, user))["usages"]
        total = page["totalCount"]
        for edge in page["edges"]:
            assert start <= edge["node"]["date"] <= end
            assert edge["node"]["id"] not in seen
            seen.add(edge["node"]["id"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert 0 < len(seen) == total < everything["totalCount"]
    invoiced = (await gql.ok(USAGES, {"f": {"invoiced": True}, "first": 20}, user))["usages"]
    assert invoiced["totalCount"] > 0
    assert all(e["node"]["invoiced"] and e["node"]["invoice"]["number"] for e in invoiced["edges"])
    not_invoiced = (await gql.ok(USAGES, {"f": {"invoiced": False}, "first": 20}, user))["usages"]
    assert invoiced["totalCount"] + not_invoiced["totalCount"] == everything["totalCount"]
    assert all(e["node"]["invoice"] is None for e in not_invoiced["edges"])
    storage = (await gql.ok(USAGES, {"f": {"unit": "gb", "search": "STORAGE"}, "first": 50}, user))["usages"]
    assert storage["totalCount"] > 0
    assert all(e["node"]["unit"] == "GB" and "Storage" in e["node"]["description"] for e in storage["edges"])
    bad = await gql.error(USAGES, {"f": {"from": start}, "after": "not-a-cursor"}, user)
    assert code_of(bad) == "BAD_USER_INPUT"
    capped = (await gql.ok(USAGES, {"first": 1000}, user))["usages"]
    assert len(capped["edges"]) == 100


async def test_an_invoice_due_today_is_overdue_only_after_midnight_eastern(gql, tokens, demo, clock):
    manager = await tokens("manager@acme.test")  # taken before the clock moves (tokens carry real time)
    account = await acme_id(demo)
    today = eastern_today()
    invoice = await issue(gql, tokens, account, today, issued=today - timedelta(days=30))
    late_evening = datetime.combine(today, time(23, 30), EASTERN)
    after_midnight = datetime.combine(today + timedelta(days=1), time(0, 30), EASTERN)
    clock.advance(late_evening - datetime.now(EASTERN))
    assert (await gql.ok(INVOICE, {"id": invoice["id"]}, manager))["invoice"]["status"] == "OPEN"
    open_now = await all_invoices(gql, manager, {"status": ["OPEN"]})
    assert invoice["id"] in {i["id"] for i in open_now}
    clock.advance(after_midnight - late_evening)
    assert (await gql.ok(INVOICE, {"id": invoice["id"]}, manager))["invoice"]["status"] == "OVERDUE"
    overdue_now = await all_invoices(gql, manager, {"status": ["OVERDUE"]})
    assert invoice["id"] in {i["id"] for i in overdue_now}


async def test_support_admin_issues_invoices_and_records_usage_once_by_external_id(gql, tokens, demo, direct_amqp_url):
    account = await acme_id(demo)
    root = await tokens("root@support.test")
    async with tap(direct_amqp_url, ["invoice.*"]) as partner:
        invoice = await issue(
            gql,
            tokens,
            account,
            eastern_today() + timedelta(days=30),
            ("Widgets", "3", "19.99"),
            ("Setup", "1", "0.03"),
        )
        event = await partner.wait_for("invoice.issued", lambda e: e["data"]["invoiceId"] == invoice["id"])
    assert invoice["total"] == {"amount": "60.00", "currency": "USD"} and invoice["status"] == "OPEN"
    assert event["data"]["total"] == {"amount": "60.00", "currency": "USD"}
    assert event["data"]["accountId"] == account and event["data"]["dueDate"] == invoice["dueDate"]
    for role in ("admin@acme.test", "agent@support.test"):
        refused = await gql.error(
            ISSUE,
            {"i": {"accountId": account, "issueDate": "2026-01-01", "dueDate": "2026-01-31", "lines": []}},
            await tokens(role),
        )
        assert code_of(refused) == "FORBIDDEN"
    bad = await gql.error(
        ISSUE,
        {"i": {"accountId": account, "issueDate": "2026-02-01", "dueDate": "2026-01-01", "lines": []}},
        root,
    )
    assert code_of(bad) == "BAD_USER_INPUT"

    tag = uuid.uuid4().hex[:8]
    rows = [
        {
            "accountId": account,
            "externalId": f"ext-{tag}-{n}",
            "description": f"Batch job {tag} #{n}",
            "date": eastern_today().isoformat(),
            "quantity": "1.5",
            "unit": "hours",
        }
        for n in range(3)
    ]
    assert (await gql.ok(RECORD, {"rows": rows}, root))["recordUsages"] == 3
    assert (await gql.ok(RECORD, {"rows": rows}, root))["recordUsages"] == 0  # the same records again
    found = (await gql.ok(USAGES, {"f": {"search": tag}}, await tokens("user@acme.test")))["usages"]
    assert found["totalCount"] == 3
    assert {e["node"]["quantity"] for e in found["edges"]} == {"1.5"}
    assert code_of(await gql.error(RECORD, {"rows": rows}, await tokens("admin@acme.test"))) == "FORBIDDEN"


async def test_a_list_of_accounts_with_their_billing_costs_one_billing_call(gql, tokens, spans):
    root = await tokens("root@support.test")
    spans.clear()
    query = "{ accounts(first: 20) { edges { node { number billing { openInvoiceCount canMakePayment } } } } }"
    data = {e["node"]["number"]: e["node"]["billing"] for e in (await gql.ok(query, token=root))["accounts"]["edges"]}
    assert data["GLOBEX-001"] == {"openInvoiceCount": 1, "canMakePayment": False}
    assert data["ACME-001"]["openInvoiceCount"] >= 2
    listing = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT and s.name.endswith("/ListAccounts")]
    trace_id = listing[-1].context.trace_id
    billing_calls = [
        s.name.rsplit("/", 1)[-1]
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.CLIENT and s.context.trace_id == trace_id and "billing" in s.name.lower()
    ]
    assert billing_calls == ["BatchGetBillingSummaries"]

"""Payment methods and paying, end to end through the gateway (design.md 5.8, issue 13): the sandbox
processor's test cards, card and bank checks, no card data anywhere, review and pay with an
idempotency key, a decline, two payments of one invoice at once, receipts and events, the roles
matrix (every portal user of the account pays; staff read only; another account refused)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tests.e2e.test_billing import INVOICE, SUMMARY, acme_id, eastern_today, issue
from tests.support.events import tap
from tests.support.graphql import code_of
from tests.support.mailbox import body_of
from tests.support.settle import outbox_drained

METHOD_FIELDS = "id type brand last4 expMonth expYear bankName isDefault createdAt"
ADD = f"""mutation($a: ID, $i: AddPaymentMethodInput!) {{ addPaymentMethod(accountId: $a, input: $i) {{ {METHOD_FIELDS} }} }}"""
METHODS = f"query($a: ID) {{ paymentMethods(accountId: $a) {{ {METHOD_FIELDS} }} }}"
SET_DEFAULT = "mutation($id: ID!) { setDefaultPaymentMethod(id: $id) { id isDefault } }"
DELETE = "mutation($id: ID!) { deletePaymentMethod(id: $id) }"
PREVIEW = """query($i: PaymentInput!) { paymentPreview(input: $i) { total { amount currency }
  invoices { id number balanceDue { amount } } paymentMethod { id last4 } } }"""
PAY = """mutation($i: PaymentInput!, $k: String!) { makePayment(input: $i, idempotencyKey: $k) {
  id number status amount { amount currency } methodDescription failureReason invoices { id status } } }"""
GOOD_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000000000000002"


def card(number: str = GOOD_CARD, cvc: str = "123", **extra: Any) -> dict[str, Any]:
    year = eastern_today().year + 2
    return {
        "card": {"number": number, "expMonth": 12, "expYear": year, "cvc": cvc, "nameOnCard": "Max Manager", **extra}
    }


async def add_card(gql, token: str, number: str = GOOD_CARD, cvc: str = "123") -> dict[str, Any]:
    return (await gql.ok(ADD, {"i": card(number, cvc)}, token))["addPaymentMethod"]


async def two_invoices(gql, tokens, demo) -> list[dict[str, Any]]:
    account = await acme_id(demo)
    due = eastern_today() + timedelta(days=20)
    return [
        await issue(gql, tokens, account, due, ("Licences", "10", "12.35")),
        await issue(gql, tokens, account, due, ("Support", "1", "99.99"), ("Travel", "0.5", "80.01")),
    ]


async def test_cards_and_bank_accounts_are_checked_and_kept_as_tokens_only(gql, tokens, direct_amqp_url):
    user = await tokens("user@acme.test")
    async with tap(direct_amqp_url, ["payment_method.*"]) as partner:
        visa = await add_card(gql, user)
        added = await partner.wait_for("payment_method.added", lambda e: e["data"]["id"] == visa["id"])
    assert visa["type"] == "CARD" and visa["brand"] == "Visa" and visa["last4"] == "4242"
    assert visa["expMonth"] == 12 and visa["expYear"] == eastern_today().year + 2
    assert added["data"]["last4"] == "4242" and added["data"]["type"] == "CARD"
    bank = {"bankAccount": {"routingNumber": "011000015", "accountNumber": "000123456789", "accountHolderName": "Acme"}}
    account = (await gql.ok(ADD, {"i": bank}, user))["addPaymentMethod"]
    assert account["type"] == "BANK_ACCOUNT" and account["last4"] == "6789" and account["bankName"]
    assert account["expMonth"] is None and account["brand"] is None

    refusals = {
        "INVALID_CARD_NUMBER": card("4242 4242 4242 4241"),
        "CARD_EXPIRED": card(expYear=eastern_today().year - 1),
        "INVALID_EXPIRY": card(expMonth=13),
        "INVALID_CVC": card(cvc="12"),
        "INVALID_ROUTING_NUMBER": {
            "bankAccount": {"routingNumber": "011000016", "accountNumber": "1234567", "accountHolderName": "A"}
        },
    }
    for reason, wrong in refusals.items():
        error = await gql.error(ADD, {"i": wrong}, user)
        assert (code_of(error), error["extensions"].get("reason")) == ("BAD_USER_INPUT", reason), error
        assert "4242" not in error["message"]
    both = await gql.error(ADD, {"i": {**card(), **bank}}, user)
    assert code_of(both) == "BAD_USER_INPUT"

    methods = (await gql.ok(METHODS, {}, user))["paymentMethods"]
    assert {visa["id"], account["id"]} <= {m["id"] for m in methods}
    assert sum(1 for m in methods if m["isDefault"]) == 1
    assert (await gql.ok(SET_DEFAULT, {"id": account["id"]}, user))["setDefaultPaymentMethod"]["isDefault"]
    methods = (await gql.ok(METHODS, {}, user))["paymentMethods"]
    assert [m["id"] for m in methods if m["isDefault"]] == [account["id"]]
    async with tap(direct_amqp_url, ["payment_method.*"]) as partner:
        assert (await gql.ok(DELETE, {"id": account["id"]}, user))["deletePaymentMethod"] is True
        await partner.wait_for("payment_method.removed", lambda e: e["data"]["id"] == account["id"])
    methods = (await gql.ok(METHODS, {}, user))["paymentMethods"]
    assert account["id"] not in {m["id"] for m in methods}
    assert sum(1 for m in methods if m["isDefault"]) == 1  # another method became the default


async def test_no_card_number_or_cvc_reaches_the_database_the_events_or_the_logs(
    gql, tokens, stack, direct_amqp_url, caplog, spans
):
    caplog.set_level(logging.DEBUG)
    user = await tokens("user@acme.test")
    number, cvc = "4000056655665556", "739"  # a Visa debit test number, and a CVC found nowhere else
    async with tap(direct_amqp_url, ["payment_method.*"]) as partner:
        method = (await gql.ok(ADD, {"i": card(number, cvc)}, user))["addPaymentMethod"]
        await partner.wait_for("payment_method.added", lambda e: e["data"]["id"] == method["id"])
        events = json.dumps(partner.events)
    bad = await gql.error(ADD, {"i": card(number[:-1] + "7", cvc)}, user)  # a refused number is not echoed
    assert number[:-1] + "7" not in json.dumps(bad)
    db = stack.services["billing"].infra.db
    stored: list[Any] = []
    for name in await db.list_collection_names():
        stored += await db[name].find({}).to_list(length=None)
    text = repr(stored)
    assert method["id"] in text and "5556" in text  # the method is there, with its last four
    for secret in (number, number[:-4] + " "):
        assert secret not in text
        assert secret not in events
    # by key and value, not as a substring: other tests' stored exports hold compressed bytes,
    # in whose repr any three letters turn up now and then
    assert not _has_key(stored, "cvc") and not _has_key(partner.events, "cvc")
    assert not _has_value(stored, cvc)
    logged = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    assert number not in logged
    exported = repr([(s.name, dict(s.attributes or {})) for s in spans.get_finished_spans()])
    assert number not in exported


def _has_value(value: Any, wanted: str) -> bool:
    if isinstance(value, dict):
        return any(_has_value(v, wanted) for v in value.values())
    if isinstance(value, list):
        return any(_has_value(v, wanted) for v in value)
    return value == wanted


def _has_key(value: Any, wanted: str) -> bool:
    if isinstance(value, dict):
        return any(k.lower() == wanted or _has_key(v, wanted) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_key(v, wanted) for v in value)
    return False


async def test_only_the_kinds_the_processor_takes_can_be_added(gql, tokens, stack):
    billing = stack.services["billing"].domain
    user = await tokens("user@acme.test")
    kinds = billing.processor.method_types
    billing.processor.method_types = ["CARD"]
    try:
        summary = (await gql.ok(SUMMARY, {}, user))["billingSummary"]
        assert summary["paymentMethodTypes"] == ["CARD"]
        bank = {"bankAccount": {"routingNumber": "011000015", "accountNumber": "12345678", "accountHolderName": "A"}}
        refused = await gql.error(ADD, {"i": bank}, user)
        assert (code_of(refused), refused["extensions"]["reason"]) == (
            "FAILED_PRECONDITION",
            "PAYMENT_METHOD_TYPE_NOT_ALLOWED",
        )
    finally:
        billing.processor.method_types = kinds


async def test_a_manager_reviews_and_pays_with_an_idempotency_key(gql, tokens, demo, stack, mailbox, direct_amqp_url):
    manager = await tokens("manager@acme.test")
    method = await add_card(gql, manager)
    invoices = await two_invoices(gql, tokens, demo)
    ids = [i["id"] for i in invoices]
    before = (await gql.ok(SUMMARY, {}, manager))["billingSummary"]
    preview = (await gql.ok(PREVIEW, {"i": {"paymentMethodId": method["id"], "invoiceIds": ids}}, manager))[
        "paymentPreview"
    ]
    expected = Decimal("123.50") + Decimal("99.99") + Decimal("40.01")
    assert preview["total"] == {"amount": f"{expected:.2f}", "currency": "USD"}
    assert [i["id"] for i in preview["invoices"]] == ids and preview["paymentMethod"]["last4"] == "4242"

    key = f"pay-{uuid.uuid4()}"
    variables = {"i": {"paymentMethodId": method["id"], "invoiceIds": ids}, "k": key}
    async with tap(direct_amqp_url, ["payment.*"]) as partner:
        payment = (await gql.ok(PAY, variables, manager))["makePayment"]
        event = await partner.wait_for("payment.succeeded", lambda e: e["data"]["paymentId"] == payment["id"])
    assert payment["status"] == "SUCCEEDED" and payment["amount"]["amount"] == f"{expected:.2f}"
    assert payment["methodDescription"] == "Visa ending 4242"
    assert {i["status"] for i in payment["invoices"]} == {"PAID"}
    assert event["data"]["invoiceIds"] == ids and event["data"]["autopay"] is False
    assert event["data"]["amount"] == {"amount": f"{expected:.2f}", "currency": "USD"}
    for invoice_id in ids:
        paid = (await gql.ok(INVOICE, {"id": invoice_id}, manager))["invoice"]
        assert paid["status"] == "PAID" and paid["balanceDue"]["amount"] == "0.00"
    after = (await gql.ok(SUMMARY, {}, manager))["billingSummary"]
    assert Decimal(after["accountBalance"]["amount"]) == Decimal(before["accountBalance"]["amount"]) - expected
    assert after["lastPayment"]["status"] == "SUCCEEDED"  # the newest (a test that moved the clock may own it)
    listed = (await gql.ok("{ payments(first: 100) { edges { node { id status } } } }", {}, manager))["payments"]
    assert {"id": payment["id"], "status": "SUCCEEDED"} in [e["node"] for e in listed["edges"]]
    receipt = (await mailbox.wait_for("manager@acme.test", payment["number"]))[0]
    assert f"{expected:.2f}" in body_of(receipt) and invoices[0]["number"] in body_of(receipt)

    again = (await gql.ok(PAY, variables, manager))["makePayment"]  # a retried request
    assert again["id"] == payment["id"] and again["status"] == "SUCCEEDED"
    other_input = {"i": {"paymentMethodId": method["id"], "invoiceIds": ids[:1]}, "k": key}
    conflict = await gql.error(PAY, other_input, manager)
    assert code_of(conflict) == "CONFLICT"
    paid_again = await gql.error(PAY, {**other_input, "k": f"pay-{uuid.uuid4()}"}, manager)
    assert (code_of(paid_again), paid_again["extensions"]["reason"]) == ("FAILED_PRECONDITION", "INVOICE_NOT_PAYABLE")
    await outbox_drained(stack.services["billing"].store)
    receipts = [m for m in mailbox.to("manager@acme.test") if payment["number"] in str(m["Subject"])]
    assert len(receipts) == 1  # one receipt, however many retries


async def test_a_declined_card_leaves_the_invoices_unpaid_and_says_why(gql, tokens, demo, stack, direct_amqp_url):
    user = await tokens("user@acme.test")
    declined = await add_card(gql, user, DECLINED_CARD)  # accepted when added, declined at charge time
    invoice = (await two_invoices(gql, tokens, demo))[0]
    variables = {"i": {"paymentMethodId": declined["id"], "invoiceIds": [invoice["id"]]}, "k": str(uuid.uuid4())}
    async with tap(direct_amqp_url, ["payment.*"]) as partner:
        payment = (await gql.ok(PAY, variables, user))["makePayment"]
        event = await partner.wait_for("payment.failed", lambda e: e["data"]["paymentId"] == payment["id"])
    assert payment["status"] == "FAILED" and "declined" in payment["failureReason"]
    assert event["data"]["failureReason"] == payment["failureReason"] and event["data"]["invoiceIds"] == [invoice["id"]]
    still = (await gql.ok(INVOICE, {"id": invoice["id"]}, user))["invoice"]
    assert still["status"] == "OPEN" and still["balanceDue"] == invoice["balanceDue"]
    good = await add_card(gql, user)
    retry = {"i": {"paymentMethodId": good["id"], "invoiceIds": [invoice["id"]]}, "k": str(uuid.uuid4())}
    assert (await gql.ok(PAY, retry, user))["makePayment"]["status"] == "SUCCEEDED"  # the claim was released


async def test_two_payments_of_one_invoice_at_once_charge_it_once(gql, tokens, demo, stack):
    manager, admin = await tokens("manager@acme.test"), await tokens("admin@acme.test")
    method = await add_card(gql, manager)
    for _ in range(3):
        invoice = (await two_invoices(gql, tokens, demo))[1]
        attempts = [
            gql(PAY, {"i": {"paymentMethodId": method["id"], "invoiceIds": [invoice["id"]]}, "k": str(uuid.uuid4())}, t)
            for t in (manager, admin, manager)
        ]
        results = await asyncio.gather(*attempts)
        succeeded = [r for r in results if not r.get("errors") and r["data"]["makePayment"]["status"] == "SUCCEEDED"]
        refused = [r["errors"][0]["extensions"]["code"] for r in results if r.get("errors")]
        assert len(succeeded) == 1, results
        assert set(refused) <= {"CONFLICT", "FAILED_PRECONDITION"} and len(refused) == 2
        paid = (await gql.ok(INVOICE, {"id": invoice["id"]}, manager))["invoice"]
        assert paid["status"] == "PAID" and paid["balanceDue"]["amount"] == "0.00"
        payments = await stack.services["billing"].store.payments.find_many({"invoice_ids": invoice["id"]})
        assert [p["status"] for p in payments] == ["SUCCEEDED"]


async def test_every_portal_user_pays_staff_read_only_other_accounts_refused(gql, tokens, demo):
    account = await acme_id(demo)
    for email in ("user@acme.test", "manager@acme.test", "admin@acme.test"):
        token = await tokens(email)
        method = await add_card(gql, token)
        invoice = (await two_invoices(gql, tokens, demo))[0]
        variables = {"i": {"paymentMethodId": method["id"], "invoiceIds": [invoice["id"]]}, "k": str(uuid.uuid4())}
        assert (await gql.ok(PAY, variables, token))["makePayment"]["status"] == "SUCCEEDED"
    acme_method = await add_card(gql, await tokens("manager@acme.test"))
    invoice = (await two_invoices(gql, tokens, demo))[0]
    for staff in ("agent@support.test", "root@support.test"):
        token = await tokens(staff)
        assert (await gql.ok(METHODS, {"a": account}, token))["paymentMethods"]  # staff read
        for query, variables in (
            (ADD, {"a": account, "i": card()}),
            (PAY, {"i": {"paymentMethodId": acme_method["id"], "invoiceIds": [invoice["id"]]}, "k": "staff"}),
            (DELETE, {"id": acme_method["id"]}),
            (SET_DEFAULT, {"id": acme_method["id"]}),
        ):
            assert code_of(await gql.error(query, variables, token)) == "FORBIDDEN", query
    globex = await tokens("admin@globex.test")
    globex_card = await add_card(gql, globex)
    refused = await gql.error(
        PAY, {"i": {"paymentMethodId": globex_card["id"], "invoiceIds": [invoice["id"]]}, "k": "x"}, globex
    )
    assert code_of(refused) == "BAD_USER_INPUT"  # Acme's invoice is not one Globex can name
    for query, variables in (
        (PAY, {"i": {"paymentMethodId": acme_method["id"], "invoiceIds": [invoice["id"]]}, "k": "y"}),
        (DELETE, {"id": acme_method["id"]}),
        (PREVIEW, {"i": {"paymentMethodId": acme_method["id"], "invoiceIds": [invoice["id"]]}}),
    ):
        assert code_of(await gql.error(query, variables, globex)) == "NOT_FOUND"
    assert code_of(await gql.error(ADD, {"a": account, "i": card()}, globex)) == "FORBIDDEN"
    await gql.ok(DELETE, {"id": globex_card["id"]}, globex)
    still = (await gql.ok(INVOICE, {"id": invoice["id"]}, await tokens("user@acme.test")))["invoice"]
    assert still["status"] == "OPEN"
    assert date.fromisoformat(still["dueDate"]) > eastern_today()


async def test_no_receipt_for_a_user_who_turned_billing_mail_off(gql, tokens, demo, stack, mailbox):
    admin = await tokens("admin@acme.test")
    prefs = "mutation($on: Boolean!) { updateEmailPreferences(input: {billing: $on}) { billing } }"
    assert (await gql.ok(prefs, {"on": False}, admin))["updateEmailPreferences"]["billing"] is False
    try:
        method = await add_card(gql, admin)
        invoice = (await two_invoices(gql, tokens, demo))[0]
        variables = {"i": {"paymentMethodId": method["id"], "invoiceIds": [invoice["id"]]}, "k": str(uuid.uuid4())}
        payment = (await gql.ok(PAY, variables, admin))["makePayment"]
        assert payment["status"] == "SUCCEEDED"
        await outbox_drained(stack.services["billing"].store)
        assert not [m for m in mailbox.to("admin@acme.test") if payment["number"] in str(m["Subject"])]
    finally:
        await gql.ok(prefs, {"on": True}, admin)

"""Autopay end to end (design.md 5.9, issue 13): it needs a payment method; when on, the scheduled job
pays each invoice on its due date (US Eastern) exactly once, however many times and instances run it;
a decline is an event and an email; the autopay method cannot be deleted while autopay is on."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, time, timedelta

from tests.e2e.test_billing import EASTERN, INVOICE, SUMMARY, acme_id, eastern_today, issue
from tests.e2e.test_billing_payments import DECLINED_CARD, DELETE, add_card
from tests.support.events import tap
from tests.support.graphql import code_of
from tests.support.mailbox import body_of
from tests.support.settle import outbox_drained

SET_AUTOPAY = """mutation($on: Boolean!, $m: ID) { setAutopay(enabled: $on, paymentMethodId: $m) {
  enabled paymentMethod { id last4 } } }"""


async def test_autopay_needs_a_payment_method(gql, tokens, demo):
    globex = await tokens("admin@globex.test")
    methods = (await gql.ok("{ paymentMethods { id } }", {}, globex))["paymentMethods"]
    for method in methods:
        await gql.ok(DELETE, {"id": method["id"]}, globex)
    refused = await gql.error(SET_AUTOPAY, {"on": True}, globex)
    assert (code_of(refused), refused["extensions"]["reason"]) == (
        "FAILED_PRECONDITION",
        "AUTOPAY_REQUIRES_PAYMENT_METHOD",
    )
    summary = (await gql.ok(SUMMARY, {}, globex))["billingSummary"]
    assert summary["autopay"] == {"enabled": False, "paymentMethod": None}
    agent = await tokens("agent@support.test")
    staff = await gql.error(
        "mutation($a: ID) { setAutopay(accountId: $a, enabled: false) { enabled } }",
        {"a": demo["admin@globex.test"].account_id},
        agent,
    )
    assert code_of(staff) == "FORBIDDEN"


async def test_autopay_pays_each_invoice_on_its_eastern_due_date_exactly_once(
    gql, tokens, demo, stack, clock, mailbox, direct_amqp_url
):
    manager = await tokens("manager@acme.test")  # before the clock moves: tokens carry real time
    user = await tokens("user@acme.test")
    billing = stack.services["billing"].domain
    account = await acme_id(demo)
    method = await add_card(gql, manager)
    tomorrow = eastern_today() + timedelta(days=1)
    due_tomorrow = await issue(gql, tokens, account, tomorrow, ("Autopay me", "1", "42.42"), issued=eastern_today())
    later = await issue(gql, tokens, account, tomorrow + timedelta(days=1), ("Not yet", "1", "10.00"))
    try:
        async with tap(direct_amqp_url, ["autopay.*", "payment.*"]) as partner:
            settings = (await gql.ok(SET_AUTOPAY, {"on": True, "m": method["id"]}, manager))["setAutopay"]
            assert settings == {"enabled": True, "paymentMethod": {"id": method["id"], "last4": "4242"}}
            changed = await partner.wait_for("autopay.changed", lambda e: e["data"]["accountId"] == account)
            assert changed["data"]["enabled"] is True and changed["data"]["paymentMethodId"] == method["id"]
            in_use = await gql.error(DELETE, {"id": method["id"]}, user)
            assert code_of(in_use) == "FAILED_PRECONDITION"

            await billing.run_autopay()  # today: nothing is due yet
            assert (await gql.ok(INVOICE, {"id": due_tomorrow["id"]}, manager))["invoice"]["status"] == "OPEN"

            clock.advance(datetime.combine(tomorrow, time(0, 30), EASTERN) - datetime.now(EASTERN))
            made = await asyncio.gather(billing.run_autopay(), billing.run_autopay(), billing.run_autopay())
            made_again = await billing.run_autopay()
            assert sum(made) <= 1 and made_again == 0  # (the stack's own schedule may have been first)
            paid = (await gql.ok(INVOICE, {"id": due_tomorrow["id"]}, manager))["invoice"]
            assert paid["status"] == "PAID" and paid["balanceDue"]["amount"] == "0.00"
            assert (await gql.ok(INVOICE, {"id": later["id"]}, manager))["invoice"]["status"] == "OPEN"
            event = await partner.wait_for("payment.succeeded", lambda e: due_tomorrow["id"] in e["data"]["invoiceIds"])
            assert event["data"]["autopay"] is True and event["data"]["amount"]["amount"] == "42.42"
            await outbox_drained(stack.services["billing"].store)
            await partner.settle()
            assert (
                len([e for e in partner.of_type("payment.succeeded") if due_tomorrow["id"] in e["data"]["invoiceIds"]])
                == 1
            )
        payments = await stack.services["billing"].store.payments.find_many({"invoice_ids": due_tomorrow["id"]})
        assert len(payments) == 1 and payments[0]["autopay"] is True
        receipt = (await mailbox.wait_for("manager@acme.test", payments[0]["number"]))[0]
        assert "autopay" in body_of(receipt)
    finally:
        clock.offset = timedelta()
        await gql.ok(SET_AUTOPAY, {"on": False}, manager)


async def test_a_declined_autopay_is_an_event_and_an_email(gql, tokens, demo, stack, clock, mailbox, direct_amqp_url):
    user = await tokens("user@acme.test")
    billing = stack.services["billing"].domain
    account = await acme_id(demo)
    declined = await add_card(gql, user, DECLINED_CARD)
    today = eastern_today()
    tag = uuid.uuid4().hex[:6]
    invoice = await issue(gql, tokens, account, today + timedelta(days=2), (f"Autopay decline {tag}", "1", "7.00"))
    try:
        await gql.ok(SET_AUTOPAY, {"on": True, "m": declined["id"]}, user)
        clock.advance(datetime.combine(today + timedelta(days=2), time(9, 0), EASTERN) - datetime.now(EASTERN))
        async with tap(direct_amqp_url, ["payment.*"]) as partner:
            assert await billing.run_autopay() >= 1  # (other tests' invoices due that day count too)
            failed = await partner.wait_for("payment.failed", lambda e: invoice["id"] in e["data"]["invoiceIds"])
        assert failed["data"]["autopay"] is True and failed["data"]["failureReason"]
        mail = (await mailbox.wait_for("user@acme.test", "Automatic payment failed"))[-1]
        assert invoice["number"] in body_of(mail)
        assert await billing.run_autopay() == 0  # taken once: not charged again every run
        assert (await gql.ok(INVOICE, {"id": invoice["id"]}, user))["invoice"]["status"] == "OPEN"
    finally:
        clock.offset = timedelta()
        await gql.ok(SET_AUTOPAY, {"on": False}, user)

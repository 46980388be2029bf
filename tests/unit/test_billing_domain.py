"""The billing domain on an in-memory store, without a server: payments under concurrency and
retries, autopay by two instances at once on the Eastern due date, the export's 1,000 newest rows."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from portalkit.auth import Caller
from portalkit.clock import ManualClock
from portalkit.errors import Conflict, FailedPrecondition, Unavailable
from portalkit.mongo import connect
from services.billing import rules
from services.billing.demo import demo_usages
from services.billing.domain import SYSTEM, Billing, Person
from services.billing.processor import SandboxProcessor
from services.billing.store import BillingStore

ACME = "acc_1"
MANAGER = Caller("usr_m", "MANAGER", ACME, "s")
USER = Caller("usr_u", "USER", ACME, "s")
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123", "name_on_card": "M"}


async def billing_on(db_name: str, clock: ManualClock | None = None) -> Billing:
    store = BillingStore(connect("memory://", db_name))
    await store.ensure_indexes()
    return Billing(store, clock or ManualClock())


async def invoice(billing: Billing, due_in_days: int = 10, amount: str = "100.00") -> dict:
    today = rules.eastern_today(billing.clock.now())
    values = {
        "account_id": ACME,
        "issue_date": today.isoformat(),
        "due_date": (today + timedelta(days=due_in_days)).isoformat(),
        "lines": [{"description": "Service", "quantity": "1", "unit_price": amount}],
    }
    return await billing.issue_invoice(SYSTEM, values)


async def test_many_payments_of_one_invoice_at_once_charge_it_once():
    billing = await billing_on(f"unit_billing_{uuid.uuid4().hex}")
    method = await billing.add_payment_method(MANAGER, "", {"card": CARD})
    bill = await invoice(billing)
    attempts = [
        billing.make_payment(MANAGER, method["_id"], [bill["_id"]], f"k{n}", Person("m@acme.test")) for n in range(6)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    succeeded = [r for r in results if isinstance(r, dict) and r["status"] == "SUCCEEDED"]
    assert len(succeeded) == 1
    assert all(isinstance(r, Conflict | FailedPrecondition) for r in results if not isinstance(r, dict))
    stored = (await billing.store.get_invoices([bill["_id"]]))[0]
    assert stored["status"] == "PAID" and stored["paid_minor"] == 10000 and stored["payment_claim"] is None
    assert stored["payments"] == [succeeded[0]["_id"]]


async def test_an_idempotency_key_replays_its_payment_and_refuses_other_input():
    billing = await billing_on(f"unit_billing_{uuid.uuid4().hex}")
    method = await billing.add_payment_method(USER, "", {"card": CARD})
    first, second = await invoice(billing), await invoice(billing)
    paid = await billing.make_payment(USER, method["_id"], [first["_id"]], "key-1", None)
    again = await billing.make_payment(USER, method["_id"], [first["_id"]], "key-1", None)
    assert again["_id"] == paid["_id"] and again["status"] == "SUCCEEDED"
    with pytest.raises(Conflict):
        await billing.make_payment(USER, method["_id"], [second["_id"]], "key-1", None)
    assert (await billing.store.get_invoices([second["_id"]]))[0]["status"] == "OPEN"
    assert len(await billing.store.payments.find_many({})) == 1


async def test_two_instances_running_autopay_at_once_pay_each_due_invoice_once():
    clock = ManualClock()
    name = f"unit_billing_{uuid.uuid4().hex}"
    one, two = await billing_on(name, clock), await billing_on(name, clock)  # one database, two instances
    method = await one.add_payment_method(MANAGER, "", {"card": CARD})
    await one.set_autopay(MANAGER, "", True, "", Person("m@acme.test"))
    due_tomorrow = [await invoice(one, due_in_days=1) for _ in range(3)]
    later = await invoice(one, due_in_days=2)
    assert await one.run_autopay() == 0
    today = rules.eastern_today(clock.now())
    clock.advance(datetime.combine(today + timedelta(days=1), datetime.min.time(), rules.EASTERN) - clock.now())
    clock.advance(timedelta(minutes=1))  # one minute past midnight Eastern
    made = await asyncio.gather(one.run_autopay(), two.run_autopay(), one.run_autopay(), two.run_autopay())
    assert sum(made) == 3 and await two.run_autopay() == 0
    payments = await one.store.payments.find_many({})
    assert sorted(p["invoice_ids"][0] for p in payments) == sorted(i["_id"] for i in due_tomorrow)
    assert all(p["autopay"] and p["payment_method_id"] == method["_id"] for p in payments)
    assert (await one.store.get_invoices([later["_id"]]))[0]["status"] == "OPEN"
    with pytest.raises(FailedPrecondition):
        await one.delete_payment_method(MANAGER, method["_id"])


async def test_autopay_needs_a_method():
    billing = await billing_on(f"unit_billing_{uuid.uuid4().hex}")
    with pytest.raises(FailedPrecondition) as refused:
        await billing.set_autopay(MANAGER, "", True, "", None)
    assert refused.value.reason == "AUTOPAY_REQUIRES_PAYMENT_METHOD"


async def test_an_export_holds_the_thousand_newest_matching_rows():
    billing = await billing_on(f"unit_billing_{uuid.uuid4().hex}")
    today = rules.eastern_today(billing.clock.now())
    rows = demo_usages(billing, ACME, today, 1500, days=400)
    await billing.store.bulk_insert_usages(rows)
    export = await billing.export_usages(USER, "", {}, ["ID", "DATE"], "CSV", Person("u@acme.test"))
    assert export["status"] == "PENDING"
    assert await billing.build_next_export() and not await billing.build_next_export()
    ready = await billing.store.get_export(export["_id"])
    assert ready is not None and ready["status"] == "READY" and ready["row_count"] == 1000
    stored = await billing.store.get_export_file(export["_id"])
    assert stored is not None
    table = list(csv.reader(io.StringIO(bytes(stored["data"]).decode())))
    newest = sorted(rows, key=lambda r: (r["date"], r["_id"]), reverse=True)[:1000]
    assert [r[0] for r in table[1:]] == [r["_id"] for r in newest]
    mail = ready["_outbox"][-1]["mail"]["raw"]
    assert "u@acme.test" in mail and "/downloads/usage-exports/" in mail


def test_the_clock_decides_the_eastern_day():
    clock = ManualClock()
    clock.advance(datetime(2027, 3, 15, 3, 59, tzinfo=UTC) - clock.now())
    assert rules.eastern_today(clock.now()).isoformat() == "2027-03-14"


async def test_the_same_key_sent_twice_at_once_is_one_payment_and_one_charge():
    billing = await billing_on(f"unit_billing_{uuid.uuid4().hex}")
    method = await billing.add_payment_method(USER, "", {"card": CARD})
    bill = await invoice(billing)
    results = await asyncio.gather(
        *(billing.make_payment(USER, method["_id"], [bill["_id"]], "same-key", None) for _ in range(4))
    )
    assert len({r["_id"] for r in results}) == 1
    stored = await billing.store.payments.find_many({})
    assert len(stored) == 1 and stored[0]["status"] == "SUCCEEDED"
    assert (await billing.store.get_invoices([bill["_id"]]))[0]["paid_minor"] == 10000


async def test_a_refused_payment_leaves_no_record_and_its_key_can_be_used_again():
    billing = await billing_on(f"unit_billing_{uuid.uuid4().hex}")
    method = await billing.add_payment_method(USER, "", {"card": CARD})
    bill = await invoice(billing)
    now = billing.clock.now()
    assert await billing.store.claim_invoice_for_payment(bill["_id"], "pay_other", now, now + timedelta(minutes=2))
    with pytest.raises(Conflict):
        await billing.make_payment(USER, method["_id"], [bill["_id"]], "k", None)
    assert await billing.store.payments.find_many({}) == []
    await billing.store.release_invoice_claim(bill["_id"], "pay_other")
    assert (await billing.make_payment(USER, method["_id"], [bill["_id"]], "k", None))["status"] == "SUCCEEDED"


class FlakyProcessor(SandboxProcessor):
    """Does not answer the first charge of each key... though it did make it (the worst case)."""

    def __init__(self) -> None:
        super().__init__()
        self.charged: list[str] = []
        self.unanswered: set[str] = set()

    async def charge(self, token, amount, currency, idempotency_key):
        result = await super().charge(token, amount, currency, idempotency_key)
        if idempotency_key not in self.unanswered:
            self.charged.append(idempotency_key)
            self.unanswered.add(idempotency_key)
            raise ConnectionError("processor timed out")
        return result


async def test_a_payment_the_processor_did_not_answer_stays_pending_and_is_settled_once_later():
    clock = ManualClock()
    store = BillingStore(connect("memory://", f"unit_billing_{uuid.uuid4().hex}"))
    await store.ensure_indexes()
    processor = FlakyProcessor()
    billing = Billing(store, clock, processor)
    method = await billing.add_payment_method(USER, "", {"card": CARD})
    bill = await invoice(billing)
    with pytest.raises(Unavailable):
        await billing.make_payment(USER, method["_id"], [bill["_id"]], "k1", Person("u@acme.test"))
    pending = await billing.make_payment(USER, method["_id"], [bill["_id"]], "k1", None)  # the client retries
    assert pending["status"] == "PENDING"
    with pytest.raises(Conflict):  # the invoice is held by the pending payment: no second charge
        await billing.make_payment(USER, method["_id"], [bill["_id"]], "k2", None)
    assert await billing.settle_pending_payments() == 0  # too fresh yet
    clock.advance(timedelta(minutes=1))
    assert await billing.settle_pending_payments() == 1
    assert await billing.settle_pending_payments() == 0
    done = (await store.get_payments([pending["_id"]]))[0]
    assert done["status"] == "SUCCEEDED" and processor.charged == [pending["_id"]]
    paid = (await store.get_invoices([bill["_id"]]))[0]
    assert paid["status"] == "PAID" and paid["payments"] == [pending["_id"]]
    assert "u@acme.test" in done["_outbox"][-1]["mail"]["raw"]  # the receipt goes out once it is settled


def test_the_kinds_of_payment_method_come_from_the_processor_settings(monkeypatch, tmp_path):
    from portalkit.events import InProcessBus
    from portalkit.mail import FolderMailer
    from portalkit.service import Infrastructure
    from services.billing.service import BillingSettings, build

    monkeypatch.setenv("PORTAL_PAYMENT_METHOD_TYPES", "card")
    infra = Infrastructure(connect("memory://", "unit_billing_types"), InProcessBus(), FolderMailer(str(tmp_path)))
    assert build(BillingSettings(), infra).domain.processor.method_types == ["CARD"]
    monkeypatch.delenv("PORTAL_PAYMENT_METHOD_TYPES")
    assert build(BillingSettings(), infra).domain.processor.method_types == ["CARD", "BANK_ACCOUNT"]

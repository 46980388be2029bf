"""Demo billing data (design.md section 9, issue 13): for Acme, invoices in every status (open,
partially paid, paid, overdue, void), credits, payments that succeeded and one that failed, a saved
card, and a few thousand usage records, older ones invoiced; Globex gets one open invoice.
Dates are relative to today (US Eastern), so statuses read the same whichever day it runs.
Idempotent: an account that has invoices already is left as it is."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from portalkit.ids import new_id
from services.billing import rules
from services.billing.domain import Billing

USAGE_RECORDS = 3000
PRODUCTS = [
    ("API calls", "calls", ("1000", "25000")),
    ("Storage", "GB", ("1", "500")),
    ("SMS messages", "messages", ("10", "2000")),
    ("Support hours", "hours", ("1", "8")),
    ("Data transfer", "GB", ("1", "200")),
]
# days before today: issued, due; status; share paid
DEMO_INVOICES = [
    (120, 90, "PAID", 1),
    (90, 60, "PAID", 1),
    (75, 45, "VOID", 0),
    (45, 15, "OPEN", 0),  # unpaid after its due date: OVERDUE
    (20, -10, "PARTIALLY_PAID", 2),  # half paid
    (5, -25, "OPEN", 0),
]


async def load_demo(billing: Billing, accounts: dict[str, str], usage_records: int = USAGE_RECORDS) -> int:
    """`accounts`: account number -> id. Returns how many invoices were added."""
    added = 0
    today = rules.eastern_today(billing.clock.now())
    acme, globex = accounts.get("ACME-001"), accounts.get("GLOBEX-001")
    if acme and not await billing.store.count_invoices(acme):
        added += await _acme(billing, acme, today, usage_records)
    if globex and not await billing.store.count_invoices(globex):
        await _invoice(billing, globex, today, 10, -20, "OPEN", 0, [("Platform subscription", "1", "450.00")])
        added += 1
    return added


async def _invoice(
    billing: Billing,
    account_id: str,
    today: date,
    issued_ago: int,
    due_ago: int,
    status: str,
    paid_share: int,
    lines: list[tuple[str, str, str]],
) -> dict[str, Any]:
    checked, total = rules.invoice_lines([{"description": d, "quantity": q, "unit_price": p} for d, q, p in lines])
    number = f"INV-{await billing.store.next_number('invoice'):06d}"
    issued, due = (today - timedelta(days=issued_ago)).isoformat(), (today - timedelta(days=due_ago)).isoformat()
    invoice = billing._invoice(account_id, number, issued, due, {"currency": "USD"}, checked, total)
    paid = total if paid_share == 1 else total // 2 if paid_share == 2 else 0
    invoice.update(status=status, paid_minor=paid if status != "VOID" else 0)
    await billing.store.insert_invoice(invoice, [])
    return invoice


async def _payment(
    billing: Billing, invoice: dict[str, Any], amount: int, status: str, days_ago: int, method: str, reason: str = ""
) -> None:
    payment = {
        "_id": new_id("pay"),
        "account_id": invoice["account_id"],
        "number": f"PAY-{await billing.store.next_number('payment'):06d}",
        "user_id": "",
        "idempotency_key": f"demo:{invoice['_id']}:{status}",
        "fingerprint": "",
        "payment_method_id": "",
        "method_description": method,
        "amount_minor": amount,
        "currency": "USD",
        "allocations": [{"invoice_id": invoice["_id"], "amount_minor": amount}],
        "invoice_ids": [invoice["_id"]],
        "status": status,
        "failure_reason": reason,
        "autopay": False,
        "created_at": billing.clock.now() - timedelta(days=days_ago),
    }
    await billing.store.insert_payment(payment)


async def _acme(billing: Billing, account_id: str, today: date, usage_records: int) -> int:
    invoices = []
    for n, (issued_ago, due_ago, status, share) in enumerate(DEMO_INVOICES):
        lines = [("Platform subscription", "1", "450.00"), (PRODUCTS[n % 5][0], str(100 + 25 * n), "0.85")]
        invoices.append(await _invoice(billing, account_id, today, issued_ago, due_ago, status, share, lines))
    card = "Visa ending 4242"
    for invoice, (_, due_ago, status, share) in zip(invoices, DEMO_INVOICES, strict=True):
        if status == "PAID":
            await _payment(billing, invoice, invoice["total_minor"], "SUCCEEDED", max(due_ago - 3, 0), card)
        elif share == 2:
            await _payment(billing, invoice, invoice["paid_minor"], "SUCCEEDED", 3, card)
    overdue = invoices[3]
    await _payment(
        billing, overdue, overdue["total_minor"], "FAILED", 14, "Visa ending 0002", "Your card was declined."
    )
    for n, (days_ago, amount, balance, reference) in enumerate(
        [(100, "150.00", "0.00", "Service credit: outage 2026-07"), (30, "75.50", "75.50", "Goodwill credit")]
    ):
        credit = {
            "_id": new_id("crd"),
            "account_id": account_id,
            "number": f"CR-{await billing.store.next_number('credit'):06d}",
            "date": (today - timedelta(days=days_ago + n)).isoformat(),
            "currency": "USD",
            "amount_minor": rules.to_minor(rules.decimal_of(amount, "amount")),
            "balance_minor": rules.to_minor(rules.decimal_of(balance, "balance")),
            "reference": reference,
        }
        await billing.store.insert_credit(credit)
    await billing.store.bulk_insert_usages(demo_usages(billing, account_id, today, usage_records, invoices[0]["_id"]))
    return len(invoices)


def demo_usages(
    billing: Billing, account_id: str, today: date, count: int, invoice_id: str = "", days: int = 180, seed: int = 13
) -> list[dict[str, Any]]:
    """`count` usage records over the last `days` days; those older than 30 days are invoiced."""
    pick = random.Random(seed)
    now = billing.clock.now()
    rows = []
    for n in range(count):
        name, unit, (low, high) = PRODUCTS[n % len(PRODUCTS)]
        day = today - timedelta(days=pick.randrange(days))
        description = f"{name} - {pick.choice(['us-east', 'eu-west', 'ap-south'])} #{n:05d}"
        invoiced = bool(invoice_id) and (today - day).days > 30
        external_id = f"demo-{seed}-{n}"
        rows.append(
            {
                "_id": rules.usage_id(account_id, external_id),
                "account_id": account_id,
                "external_id": external_id,
                "description": description,
                "description_lower": description.lower(),
                "date": day.isoformat(),
                "quantity": str(pick.randint(int(low), int(high))),
                "unit": unit,
                "unit_key": unit.lower(),
                "invoice_id": invoice_id if invoiced else "",
                "invoiced": invoiced,
                "created_at": now,
            }
        )
    return rows

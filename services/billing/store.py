"""Every MongoDB call of the billing service, each a method named for what it does.

Documents (money in integer minor units, customer-facing dates as Eastern YYYY-MM-DD strings):
- invoices: {_id: inv_…, account_id, number, number_key (account:number, unique), issue_date, due_date, currency, lines[{description,
             quantity, unit_price_minor, amount_minor}], total_minor, paid_minor, status (OPEN,
             PARTIALLY_PAID, PAID, VOID; OVERDUE is computed), payment_claim {payment_id, until} while a
             payment is being charged, payments[] (applied payment ids), autopay_attempt {date,
             payment_id} once autopay took it, created_at, _outbox[]}
- credits: {_id: crd_…, account_id, number, date, currency, amount_minor, balance_minor, reference}
- payments: {_id: pay_…, account_id, number, user_id, idempotency_key, fingerprint, payment_method_id,
             method_description, amount_minor, currency, allocations[{invoice_id, amount_minor}],
             invoice_ids, status, failure_reason, processor_reference, autopay, notify_email (receipt
             address, if the payer wants billing mail), created_at, _outbox[]}
- payment_methods: {_id: pm_…, account_id, type, token, brand, last4, exp_month, exp_year, bank_name,
             is_default, created_at, deleted_at, _outbox[]}: the processor's token, never card data
- autopay: {_id: account id, enabled, payment_method_id, notify_email, updated_at, _outbox[]}
- usages: {_id: usg_<hash of account and externalId> (so the same record twice is one _id), account_id, external_id, description, description_lower, date, quantity,
             unit, unit_key, invoice_id, invoiced, created_at}
- usage_exports: {_id: uxp_…, account_id, user_id, email, format, columns, filter, status (PENDING,
             BUILDING, READY, FAILED), claimed_until, row_count, expires_at, created_at, _outbox[]}
- export_files: {_id: uxp_…, data (bytes), content_type, filename}
- counters: {_id: kind, value}: invoice, payment and credit numbers
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from portalkit.errors import Conflict
from portalkit.mongo import Document, TracedCollection
from portalkit.outbox import AggregateCollection, Outgoing
from portalkit.pagination import DESC, Ordering, Page, fetch_page

INVOICES_NEWEST = Ordering("issued_desc", (("issue_date", DESC),))
CREDITS_NEWEST = Ordering("credit_desc", (("date", DESC),))
PAYMENTS_NEWEST = Ordering("paid_desc", (("created_at", DESC),))
USAGES_NEWEST = Ordering("usage_desc", (("date", DESC),))
PAYABLE = ["OPEN", "PARTIALLY_PAID"]
LIVE = {"deleted_at": None}


def _contains(text: str) -> dict[str, Any]:
    return {"$regex": re.escape(text.lower())}


class BillingStore:
    def __init__(self, db: Any) -> None:
        self.invoices = AggregateCollection(db, "invoices")
        self.credits = AggregateCollection(db, "credits")
        self.payments = AggregateCollection(db, "payments")
        self.methods = AggregateCollection(db, "payment_methods")
        self.autopay = AggregateCollection(db, "autopay")
        self.usages = TracedCollection(db, "usages")
        self.exports = AggregateCollection(db, "usage_exports")
        self.files = TracedCollection(db, "export_files")
        self.counters = TracedCollection(db, "counters")
        self._usages_bulk = db["usages"]

    @property
    def aggregates(self) -> list[AggregateCollection]:
        return [self.invoices, self.credits, self.payments, self.methods, self.autopay, self.exports]

    async def ensure_indexes(self) -> None:
        await self.invoices.ensure_index([("account_id", 1), ("issue_date", -1), ("_id", -1)])
        await self.invoices.ensure_index([("number_key", 1)], unique=True, sparse=True)
        await self.invoices.ensure_index([("status", 1), ("due_date", 1)])
        await self.credits.ensure_index([("account_id", 1), ("date", -1), ("_id", -1)])
        await self.payments.ensure_index([("account_id", 1), ("created_at", -1), ("_id", -1)])
        await self.payments.ensure_index([("account_id", 1), ("idempotency_key", 1)], unique=True)
        await self.payments.ensure_index([("status", 1), ("created_at", 1)])
        await self.methods.ensure_index([("account_id", 1), ("created_at", 1)])
        await self.usages.ensure_index([("account_id", 1), ("date", -1), ("_id", -1)])
        await self.exports.ensure_index([("status", 1), ("created_at", 1)])

    async def next_number(self, kind: str) -> int:
        counter = await self.counters.find_one_and_update({"_id": kind}, {"$inc": {"value": 1}}, upsert=True)
        assert counter is not None
        return int(counter["value"])

    # --- invoices ------------------------------------------------------------------------------
    async def get_invoices(self, ids: list[str]) -> list[Document]:
        return await self.invoices.find_many({"_id": {"$in": ids}})

    async def list_invoices(
        self, account_id: str, statuses: list[str], today: str, issued_from: str, issued_to: str, size: int, token: str
    ) -> Page:
        """`statuses` as customers see them: OVERDUE = open or partly paid and due before `today`."""
        query: dict[str, Any] = {"account_id": account_id}
        if statuses:
            branches: list[dict[str, Any]] = []
            for status in statuses:
                if status == "OVERDUE":
                    branches.append({"status": {"$in": PAYABLE}, "due_date": {"$lt": today}})
                elif status in PAYABLE:
                    branches.append({"status": status, "due_date": {"$gte": today}})
                else:
                    branches.append({"status": status})
            query["$or"] = branches
        dates = {k: v for k, v in (("$gte", issued_from), ("$lte", issued_to)) if v}
        if dates:
            query["issue_date"] = dates
        return await fetch_page(self.invoices, query, size, token, INVOICES_NEWEST)

    async def open_invoices(self, account_id: str) -> list[Document]:
        return await self.invoices.find_many(
            {"account_id": account_id, "status": {"$in": PAYABLE}}, sort=[("due_date", 1), ("_id", 1)]
        )

    async def last_invoice(self, account_id: str) -> Document | None:
        found = await self.invoices.find_many(
            {"account_id": account_id, "status": {"$ne": "VOID"}}, sort=INVOICES_NEWEST.sort, limit=1
        )
        return found[0] if found else None

    async def invoices_due_for_autopay(self, due_date: str, account_ids: list[str]) -> list[Document]:
        return await self.invoices.find_many(
            {
                "account_id": {"$in": account_ids},
                "status": {"$in": PAYABLE},
                "due_date": due_date,
                "autopay_attempt": None,
            }
        )

    async def insert_invoice(self, invoice: Document, outgoing: Outgoing) -> None:
        try:
            await self.invoices.insert(invoice, outgoing)
        except DuplicateKeyError as exc:
            raise Conflict(f"invoice number {invoice['number']} is taken", reason="INVOICE_NUMBER_TAKEN") from exc

    async def claim_invoice_for_payment(self, invoice_id: str, payment_id: str, now: datetime, until: datetime) -> bool:
        """Hold an open invoice for one payment while it is charged: one write that only one payment
        can win (a claim left by a crash lapses at `until`)."""
        claimed = await self.invoices.change(
            {
                "_id": invoice_id,
                "status": {"$in": PAYABLE},
                "$or": [{"payment_claim": None}, {"payment_claim.until": {"$lt": now}}],
            },
            {"$set": {"payment_claim": {"payment_id": payment_id, "until": until}}},
        )
        return claimed is not None

    async def release_invoice_claim(self, invoice_id: str, payment_id: str) -> None:
        await self.invoices.change(
            {"_id": invoice_id, "payment_claim.payment_id": payment_id}, {"$set": {"payment_claim": None}}
        )

    async def apply_payment_to_invoice(self, invoice_id: str, payment_id: str, paid_minor: int, status: str) -> None:
        """Once per payment: the invoice's paid amount and status, and its claim released."""
        await self.invoices.change(
            {"_id": invoice_id, "payments": {"$ne": payment_id}},
            {
                "$set": {"paid_minor": paid_minor, "status": status, "payment_claim": None},
                "$push": {"payments": payment_id},
            },
        )

    async def claim_invoice_for_autopay(self, invoice_id: str, on_date: str, payment_id: str) -> bool:
        """The one conditional write that makes autopay take each invoice exactly once, however many
        times or instances run the job."""
        claimed = await self.invoices.change(
            {"_id": invoice_id, "autopay_attempt": None},
            {"$set": {"autopay_attempt": {"date": on_date, "payment_id": payment_id}}},
        )
        return claimed is not None

    # --- credits -------------------------------------------------------------------------------
    async def get_credits(self, ids: list[str]) -> list[Document]:
        return await self.credits.find_many({"_id": {"$in": ids}})

    async def list_credits(self, account_id: str, size: int, token: str) -> Page:
        return await fetch_page(self.credits, {"account_id": account_id}, size, token, CREDITS_NEWEST)

    async def insert_credit(self, credit: Document) -> None:
        await self.credits.insert(credit)

    # --- payments ------------------------------------------------------------------------------
    async def get_payments(self, ids: list[str]) -> list[Document]:
        return await self.payments.find_many({"_id": {"$in": ids}})

    async def list_payments(self, account_id: str, size: int, token: str) -> Page:
        return await fetch_page(self.payments, {"account_id": account_id}, size, token, PAYMENTS_NEWEST)

    async def last_succeeded_payment(self, account_id: str) -> Document | None:
        found = await self.payments.find_many(
            {"account_id": account_id, "status": "SUCCEEDED"}, sort=PAYMENTS_NEWEST.sort, limit=1
        )
        return found[0] if found else None

    async def find_payment_by_key(self, account_id: str, idempotency_key: str) -> Document | None:
        return await self.payments.find_one({"account_id": account_id, "idempotency_key": idempotency_key})

    async def insert_payment(self, payment: Document, outgoing: Outgoing = ()) -> bool:
        """False when a payment with this idempotency key exists already."""
        try:
            await self.payments.insert(payment, outgoing)
        except DuplicateKeyError:
            return False
        return True

    async def pending_payments(self, created_before: datetime) -> list[Document]:
        return await self.payments.find_many(
            {"status": "PENDING", "created_at": {"$lt": created_before}}, sort=[("created_at", 1)], limit=100
        )

    async def discard_pending_payment(self, payment_id: str) -> None:
        """A payment refused before anything was charged leaves no record (its outbox is empty)."""
        await self.payments.delete_one({"_id": payment_id, "status": "PENDING", "_outbox.0": {"$exists": False}})

    async def finish_payment(self, payment_id: str, changes: Document, outgoing: Outgoing) -> Document | None:
        """PENDING -> SUCCEEDED/FAILED once, with its events and receipt in the same write."""
        return await self.payments.change({"_id": payment_id, "status": "PENDING"}, {"$set": changes}, outgoing)

    # --- payment methods -----------------------------------------------------------------------
    async def get_methods(self, ids: list[str]) -> list[Document]:
        return await self.methods.find_many({"_id": {"$in": ids}, **LIVE})

    async def get_method(self, method_id: str) -> Document | None:
        return await self.methods.find_one({"_id": method_id, **LIVE})

    async def get_method_any(self, method_id: str) -> Document | None:
        """Deleted or not: a pending payment is finished with the method it was started with."""
        return await self.methods.find_one({"_id": method_id})

    async def list_methods(self, account_id: str) -> list[Document]:
        return await self.methods.find_many({"account_id": account_id, **LIVE}, sort=[("created_at", 1), ("_id", 1)])

    async def insert_method(self, method: Document, outgoing: Outgoing) -> None:
        await self.methods.insert(method, outgoing)

    async def make_default(self, account_id: str, method_id: str) -> Document | None:
        await self.methods.update_many(
            {"account_id": account_id, "_id": {"$ne": method_id}, "is_default": True}, {"$set": {"is_default": False}}
        )
        return await self.methods.change({"_id": method_id, **LIVE}, {"$set": {"is_default": True}})

    async def delete_method(self, method_id: str, now: datetime, outgoing: Outgoing) -> Document | None:
        return await self.methods.change(
            {"_id": method_id, **LIVE}, {"$set": {"deleted_at": now, "is_default": False}}, outgoing
        )

    # --- autopay -------------------------------------------------------------------------------
    async def get_autopay(self, account_id: str) -> Document | None:
        return await self.autopay.find_one({"_id": account_id})

    async def set_autopay(self, account_id: str, changes: Document, outgoing: Outgoing) -> Document:
        saved = await self.autopay.change({"_id": account_id}, {"$set": changes}, outgoing)
        if saved is None:
            try:
                await self.autopay.insert({"_id": account_id, **changes}, outgoing)
            except DuplicateKeyError:
                return await self.set_autopay(account_id, changes, outgoing)
            saved = {"_id": account_id, **changes}
        return saved

    async def autopay_accounts(self) -> list[Document]:
        return await self.autopay.find_many({"enabled": True})

    # --- usage ---------------------------------------------------------------------------------
    def _usage_query(self, account_id: str, filters: dict[str, Any]) -> dict[str, Any]:
        query: dict[str, Any] = {"account_id": account_id}
        dates = {k: filters[f] for k, f in (("$gte", "from"), ("$lte", "to")) if filters.get(f)}
        if dates:
            query["date"] = dates
        if filters.get("invoiced") is not None:
            query["invoiced"] = bool(filters["invoiced"])
        if filters.get("unit"):
            query["unit_key"] = str(filters["unit"]).lower()
        if filters.get("search"):
            query["description_lower"] = _contains(str(filters["search"]))
        return query

    async def get_usages(self, ids: list[str]) -> list[Document]:
        return await self.usages.find_many({"_id": {"$in": ids}})

    async def list_usages(self, account_id: str, filters: dict[str, Any], size: int, token: str) -> Page:
        return await fetch_page(self.usages, self._usage_query(account_id, filters), size, token, USAGES_NEWEST)

    async def newest_usages(self, account_id: str, filters: dict[str, Any], limit: int) -> list[Document]:
        query = self._usage_query(account_id, filters)
        return await self.usages.find_many(query, sort=USAGES_NEWEST.sort, limit=limit)

    async def record_usage(self, usage: Document) -> bool:
        """False when (account, externalId) was recorded before: the same record counts once."""
        try:
            await self.usages.insert_one(usage)
        except DuplicateKeyError:
            return False
        return True

    async def bulk_insert_usages(self, usages: list[Document]) -> None:
        """Demo and bench data: many at once (ids are new, so nothing collides)."""
        if usages:
            await self._usages_bulk.insert_many(usages, ordered=False)

    async def count_usages(self, account_id: str) -> int:
        return await self.usages.count({"account_id": account_id})

    async def count_invoices(self, account_id: str) -> int:
        return await self.invoices.count({"account_id": account_id})

    # --- exports -------------------------------------------------------------------------------
    async def get_export(self, export_id: str) -> Document | None:
        return await self.exports.find_one({"_id": export_id})

    async def insert_export(self, export: Document) -> None:
        await self.exports.insert(export)

    async def claim_pending_export(self, now: datetime, until: datetime) -> Document | None:
        """Take one export to build (PENDING, or BUILDING whose builder went away): one instance wins."""
        return await self.exports.change(
            {"$or": [{"status": "PENDING"}, {"status": "BUILDING", "claimed_until": {"$lt": now}}]},
            {"$set": {"status": "BUILDING", "claimed_until": until}},
        )

    async def save_export_file(self, export_id: str, data: bytes, content_type: str, filename: str) -> None:
        await self.files.update_one(
            {"_id": export_id},
            {"$set": {"data": data, "content_type": content_type, "filename": filename}},
            upsert=True,
        )

    async def get_export_file(self, export_id: str) -> Document | None:
        return await self.files.find_one({"_id": export_id})

    async def finish_export(self, export_id: str, changes: Document, outgoing: Outgoing) -> Document | None:
        return await self.exports.change({"_id": export_id, "status": "BUILDING"}, {"$set": changes}, outgoing)

"""Billing operations, callable without a server (no gRPC, no Mongo here: see store.py).

Paying (design.md 5.8): a payment is first stored PENDING under its idempotency key (a unique
index: the same key twice is the same payment), then each invoice is claimed for it by one
conditional write (two payments of one invoice cannot both hold it), then the processor charges
the token; the outcome, its event and the receipt are one write on the payment, and each invoice
takes its share once. A decline releases the claims and leaves the invoices as they were.

Autopay (5.9): `run_autopay()` pays each invoice of an account with autopay on, on its due date
(US Eastern), exactly once: the invoice is taken by one conditional write, and the payment's
idempotency key is the invoice's, so a second run, or a second instance, finds nothing to do.

Usage export (5.10): `export_usages` stores a PENDING export and returns; `build_next_export`
(the background worker) claims one, writes at most the 1,000 newest matching rows, marks it READY
and mails the requester a link for them alone, valid for a limited time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from portalkit.auth import Caller
from portalkit.batch import MAX_BATCH, batch_get
from portalkit.clock import Clock, as_utc
from portalkit.errors import Conflict, FailedPrecondition, InvalidInput, NotFound, Unavailable
from portalkit.ids import new_id
from portalkit.pagination import Page
from services.billing import documents, events, rules
from services.billing.links import LinkSigner
from services.billing.processor import PaymentProcessor, SandboxProcessor
from services.billing.store import BillingStore

Doc = dict[str, Any]
log = logging.getLogger(__name__)
SYSTEM = Caller(user_id="system", role="SUPPORT_ADMIN", account_id="", session_id="")
PDF_LINK_TTL = timedelta(minutes=15)
EXPORT_LINK_TTL = timedelta(hours=24)
CLAIM_TTL = timedelta(minutes=2)
USAGE_COLUMNS = list(documents.COLUMN_TITLES)


@dataclass(frozen=True)
class Person:
    """Who gets a mail: the address identity has for the caller, and their billing preference."""

    email: str
    wants_billing: bool = True


@dataclass(frozen=True)
class BillingOptions:
    public_url: str = "http://127.0.0.1:8000"
    mail_from: str = "Customer Portal <no-reply@portal.test>"
    link_secret: bytes = b""


class Billing:
    def __init__(
        self,
        store: BillingStore,
        clock: Clock | None = None,
        processor: PaymentProcessor | None = None,
        options: BillingOptions | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or Clock()
        self.processor: PaymentProcessor = processor or SandboxProcessor()
        self.options = options or BillingOptions()
        self.links = LinkSigner(self.options.link_secret or secrets.token_bytes(32), self.options.public_url)
        self.export_wakeup = asyncio.Event()

    def today(self) -> str:
        return rules.eastern_today(self.clock.now()).isoformat()

    def status_of(self, invoice: Doc) -> str:
        return rules.invoice_status(invoice, rules.eastern_today(self.clock.now()))

    def pdf_url(self, caller: Caller, invoice_id: str) -> str:
        return self.links.url("invoices", invoice_id, caller.user_id, self.clock.now() + PDF_LINK_TTL)

    # --- reads -------------------------------------------------------------------------------
    async def get_invoices(self, caller: Caller, ids: list[str]) -> list[Doc]:
        return await batch_get(ids, self.store.get_invoices, lambda doc: rules.can_read(caller, doc))

    async def get_credits(self, caller: Caller, ids: list[str]) -> list[Doc]:
        return await batch_get(ids, self.store.get_credits, lambda doc: rules.can_read(caller, doc))

    async def get_payments(self, caller: Caller, ids: list[str]) -> list[Doc]:
        return await batch_get(ids, self.store.get_payments, lambda doc: rules.can_read(caller, doc))

    async def get_usages(self, caller: Caller, ids: list[str]) -> list[Doc]:
        return await batch_get(ids, self.store.get_usages, lambda doc: rules.can_read(caller, doc))

    async def get_payment_methods(self, caller: Caller, ids: list[str]) -> list[Doc]:
        return await batch_get(ids, self.store.get_methods, lambda doc: rules.can_read(caller, doc))

    def _readable_account(self, caller: Caller, account_id: str) -> str:
        account_id = rules.account_of(caller, account_id)
        rules.require_read(caller, account_id)
        return account_id

    async def list_invoices(self, caller: Caller, account_id: str, filters: Doc, size: int, token: str) -> Page:
        account_id = self._readable_account(caller, account_id)
        issued_from = rules.optional_date(filters.get("from") or "", "from")
        issued_to = rules.optional_date(filters.get("to") or "", "to")
        statuses = list(dict.fromkeys(filters.get("status") or []))
        return await self.store.list_invoices(account_id, statuses, self.today(), issued_from, issued_to, size, token)

    async def list_credits(self, caller: Caller, account_id: str, size: int, token: str) -> Page:
        return await self.store.list_credits(self._readable_account(caller, account_id), size, token)

    async def list_payments(self, caller: Caller, account_id: str, size: int, token: str) -> Page:
        return await self.store.list_payments(self._readable_account(caller, account_id), size, token)

    def _usage_filters(self, filters: Doc) -> Doc:
        return {
            "from": rules.optional_date(filters.get("from") or "", "from"),
            "to": rules.optional_date(filters.get("to") or "", "to"),
            "invoiced": filters.get("invoiced"),
            "unit": rules.clean_text(filters.get("unit"), "unit"),
            "search": rules.clean_text(filters.get("search"), "search"),
        }

    async def list_usages(self, caller: Caller, account_id: str, filters: Doc, size: int, token: str) -> Page:
        account_id = self._readable_account(caller, account_id)
        return await self.store.list_usages(account_id, self._usage_filters(filters), size, token)

    async def list_payment_methods(self, caller: Caller, account_id: str) -> list[Doc]:
        return await self.store.list_methods(self._readable_account(caller, account_id))

    async def summary(self, caller: Caller, account_id: str) -> Doc:
        account_id = self._readable_account(caller, account_id)
        open_invoices = [i for i in await self.store.open_invoices(account_id) if rules.balance_minor(i) > 0]
        balance = sum(rules.balance_minor(i) for i in open_invoices)
        autopay = await self.autopay_of(account_id)
        return {
            "account_id": account_id,
            "balance_minor": balance,
            "currency": open_invoices[0]["currency"] if open_invoices else "USD",
            "last_payment": await self.store.last_succeeded_payment(account_id),
            "last_invoice": await self.store.last_invoice(account_id),
            "open_invoice_count": len(open_invoices),
            "can_make_payment": balance > 0 and rules.may_pay(caller, account_id),
            "autopay": autopay,
            "payment_method_types": list(self.processor.method_types),
        }

    async def summaries(self, caller: Caller, account_ids: list[str]) -> list[Doc]:
        """Account.billing for a list of accounts: the readable ones, in request order."""
        wanted = list(dict.fromkeys(account_ids))
        if len(wanted) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} accounts per call", reason="BATCH_TOO_LARGE")
        found = {a: await self.summary(caller, a) for a in wanted if a and rules.can_read(caller, {"account_id": a})}
        return [found[a] for a in account_ids if a in found]

    async def autopay_of(self, account_id: str) -> Doc:
        settings = await self.store.get_autopay(account_id) or {}
        method = None
        if settings.get("enabled") and settings.get("payment_method_id"):
            method = await self.store.get_method(settings["payment_method_id"])
        return {"account_id": account_id, "enabled": bool(settings.get("enabled")), "payment_method": method}

    # --- payment methods -----------------------------------------------------------------------
    async def add_payment_method(self, caller: Caller, account_id: str, values: Doc) -> Doc:
        account_id = rules.account_of(caller, account_id)
        rules.require_pay(caller, account_id)
        card, bank = values.get("card"), values.get("bank_account")
        if bool(card) == bool(bank):
            raise InvalidInput("give exactly one of card or bankAccount")
        kind = "CARD" if card else "BANK_ACCOUNT"
        rules.require_method_type(kind, list(self.processor.method_types))
        today = rules.eastern_today(self.clock.now())
        if card:
            digits = rules.check_card(
                card["number"], card["exp_month"], card["exp_year"], card["cvc"], card["name_on_card"], today
            )
            brand = rules.card_brand(digits)
            made = await self.processor.tokenize_card(digits, card["exp_month"], card["exp_year"], card["cvc"], brand)
        else:
            assert bank is not None
            routing, number = rules.check_bank_account(
                bank["routing_number"], bank["account_number"], bank["account_holder_name"]
            )
            made = await self.processor.tokenize_bank_account(routing, number, bank["account_holder_name"])
        existing = await self.store.list_methods(account_id)
        method: Doc = {
            "_id": new_id("pm"),
            "account_id": account_id,
            "type": kind,
            "token": made.token,
            "brand": made.brand,
            "last4": made.last4,
            "exp_month": made.exp_month,
            "exp_year": made.exp_year,
            "bank_name": made.bank_name,
            "is_default": not existing,
            "created_by": caller.user_id,
            "created_at": self.clock.now(),
            "deleted_at": None,
        }
        await self.store.insert_method(method, [events.method_added(method)])
        if values.get("make_default") and existing:
            method = await self.store.make_default(account_id, str(method["_id"])) or method
        return method

    async def _own_method(self, caller: Caller, method_id: str) -> Doc:
        method = await self.store.get_method(method_id)
        if method is None or not rules.can_read(caller, method):
            raise NotFound("payment method not found")
        rules.require_pay(caller, method["account_id"])
        return method

    async def set_default_payment_method(self, caller: Caller, method_id: str) -> Doc:
        method = await self._own_method(caller, method_id)
        saved = await self.store.make_default(method["account_id"], method_id)
        if saved is None:
            raise NotFound("payment method not found")
        return saved

    async def delete_payment_method(self, caller: Caller, method_id: str) -> bool:
        method = await self._own_method(caller, method_id)
        autopay = await self.store.get_autopay(method["account_id"]) or {}
        if autopay.get("enabled") and autopay.get("payment_method_id") == method_id:
            raise FailedPrecondition(
                "this method pays your invoices automatically; turn autopay off or choose another method first",
                reason="PAYMENT_METHOD_USED_BY_AUTOPAY",
            )
        gone = await self.store.delete_method(method_id, self.clock.now(), [events.method_removed(method)])
        if gone is None:
            raise NotFound("payment method not found")
        if method.get("is_default"):
            rest = await self.store.list_methods(method["account_id"])
            if rest:
                await self.store.make_default(method["account_id"], rest[0]["_id"])
        return True

    # --- autopay -------------------------------------------------------------------------------
    async def set_autopay(
        self, caller: Caller, account_id: str, enabled: bool, method_id: str, notify: Person | None
    ) -> Doc:
        account_id = rules.account_of(caller, account_id)
        rules.require_pay(caller, account_id)
        chosen = ""
        if enabled:
            methods = await self.store.list_methods(account_id)
            if method_id:
                found = next((m for m in methods if m["_id"] == method_id), None)
                if found is None:
                    raise NotFound("payment method not found")
                chosen = found["_id"]
            else:
                default = next((m for m in methods if m.get("is_default")), methods[0] if methods else None)
                if default is None:
                    raise FailedPrecondition(
                        "add a payment method before turning autopay on", reason="AUTOPAY_REQUIRES_PAYMENT_METHOD"
                    )
                chosen = default["_id"]
        changes = {
            "enabled": enabled,
            "payment_method_id": chosen,
            "notify_email": notify.email if notify and enabled and notify.wants_billing else "",
            "updated_by": caller.user_id,
            "updated_at": self.clock.now(),
        }
        await self.store.set_autopay(account_id, changes, [events.autopay_changed(account_id, enabled, chosen)])
        return await self.autopay_of(account_id)

    async def run_autopay(self) -> int:
        """The scheduled job: pay every invoice due today (Eastern) of every account with autopay on.
        Safe to run any number of times, from any number of instances. Returns payments made."""
        today = self.today()
        accounts = {a["_id"]: a for a in await self.store.autopay_accounts() if a.get("payment_method_id")}
        if not accounts:
            return 0
        made = 0
        for invoice in await self.store.invoices_due_for_autopay(today, list(accounts)):
            settings = accounts[invoice["account_id"]]
            method = await self.store.get_method(settings["payment_method_id"])
            if method is None:
                continue
            payment_id = new_id("pay")
            if not await self.store.claim_invoice_for_autopay(invoice["_id"], today, payment_id):
                continue  # another run took it
            notify = Person(settings["notify_email"]) if settings.get("notify_email") else None
            try:
                await self._pay(
                    SYSTEM,
                    invoice["account_id"],
                    method,
                    [invoice],
                    f"autopay:{invoice['_id']}",
                    notify,
                    autopay=True,
                    payment_id=payment_id,
                )
                made += 1
            except (Conflict, FailedPrecondition, Unavailable) as exc:
                log.warning(
                    "autopay skipped an invoice or left it pending",
                    extra={"invoice": invoice["_id"], "why": exc.message},
                )
        return made

    # --- paying --------------------------------------------------------------------------------
    async def _payable(self, caller: Caller, method_id: str, invoice_ids: list[str]) -> tuple[Doc, list[Doc]]:
        invoice_ids = rules.payment_invoice_ids(invoice_ids)
        method = await self.store.get_method(method_id)
        if method is None or not rules.can_read(caller, method):
            raise NotFound("payment method not found")
        rules.require_pay(caller, method["account_id"])
        invoices = [i for i in await self.store.get_invoices(invoice_ids) if i["account_id"] == method["account_id"]]
        rules.require_payable(invoices, invoice_ids)
        order = {i: n for n, i in enumerate(invoice_ids)}
        return method, sorted(invoices, key=lambda i: order[i["_id"]])

    async def preview_payment(self, caller: Caller, method_id: str, invoice_ids: list[str]) -> Doc:
        method, invoices = await self._payable(caller, method_id, invoice_ids)
        return {
            "invoices": invoices,
            "total_minor": sum(rules.balance_minor(i) for i in invoices),
            "currency": invoices[0]["currency"],
            "payment_method": method,
        }

    async def make_payment(
        self, caller: Caller, method_id: str, invoice_ids: list[str], idempotency_key: str, notify: Person | None
    ) -> Doc:
        key = rules.clean_text(idempotency_key, "idempotencyKey", required=True, limit=100)
        if caller.account_id:
            previous = await self.store.find_payment_by_key(caller.account_id, key)
            if previous is not None:
                return self._replay(previous, caller.account_id, method_id, invoice_ids)
        method, invoices = await self._payable(caller, method_id, invoice_ids)
        return await self._pay(caller, method["account_id"], method, invoices, key, notify)

    def _replay(self, payment: Doc, account_id: str, method_id: str, invoice_ids: list[str]) -> Doc:
        if payment["fingerprint"] != rules.payment_fingerprint(account_id, method_id, invoice_ids):
            raise Conflict("this idempotency key was used for another payment", reason="IDEMPOTENCY_KEY_REUSED")
        return payment

    async def _pay(
        self,
        caller: Caller,
        account_id: str,
        method: Doc,
        invoices: list[Doc],
        key: str,
        notify: Person | None,
        *,
        autopay: bool = False,
        payment_id: str = "",
    ) -> Doc:
        now = self.clock.now()
        invoice_ids = [i["_id"] for i in invoices]
        allocations = [{"invoice_id": i["_id"], "amount_minor": rules.balance_minor(i)} for i in invoices]
        payment = {
            "_id": payment_id or new_id("pay"),
            "account_id": account_id,
            "number": f"PAY-{await self.store.next_number('payment'):06d}",
            "user_id": caller.user_id,
            "idempotency_key": key,
            "fingerprint": rules.payment_fingerprint(account_id, method["_id"], invoice_ids),
            "payment_method_id": method["_id"],
            "method_description": rules.method_description(method),
            "amount_minor": sum(a["amount_minor"] for a in allocations),
            "currency": invoices[0]["currency"],
            "allocations": allocations,
            "invoice_ids": invoice_ids,
            "status": "PENDING",
            "failure_reason": "",
            "autopay": autopay,
            "notify_email": notify.email if notify and notify.wants_billing else "",
            "created_at": now,
        }
        # the key first: a second request with it (a retry, even a concurrent one) is this payment
        if not await self.store.insert_payment(payment):
            previous = await self.store.find_payment_by_key(account_id, key)
            if previous is None:  # the first one was refused meanwhile and discarded: try again
                raise Conflict("a payment with this key was just refused; try again", reason="PAYMENT_IN_PROGRESS")
            return self._replay(previous, account_id, method["_id"], invoice_ids)
        # then every invoice, each by one conditional write: a concurrent payment of any of them loses
        claimed: list[str] = []
        try:
            for invoice_id in invoice_ids:
                if not await self.store.claim_invoice_for_payment(invoice_id, payment["_id"], now, now + CLAIM_TTL):
                    raise Conflict(
                        "another payment of this invoice is in progress or it was just paid",
                        reason="PAYMENT_IN_PROGRESS",
                    )
                claimed.append(invoice_id)
            held = {i["_id"]: i for i in await self.store.get_invoices(invoice_ids)}
            rules.require_payable(list(held.values()), invoice_ids)
            if any(rules.balance_minor(held[a["invoice_id"]]) != a["amount_minor"] for a in allocations):
                raise Conflict("an invoice changed meanwhile; review the payment again", reason="INVOICE_CHANGED")
        except Exception:
            for invoice_id in claimed:
                await self.store.release_invoice_claim(invoice_id, payment["_id"])
            await self.store.discard_pending_payment(payment["_id"])
            raise
        return await self._charge(payment, method, [held[i] for i in invoice_ids])

    async def _charge(self, payment: Doc, method: Doc, invoices: list[Doc]) -> Doc:
        """Charge a PENDING payment whose invoices it holds, then record the outcome once. If the
        processor cannot be reached the payment stays PENDING, its invoices held, and
        `settle_pending_payments` asks again later with the same processor idempotency key (the
        payment id), so a charge that did go through is never made twice."""
        amount = rules.from_minor(payment["amount_minor"])
        try:
            charge = await self.processor.charge(method["token"], Decimal(amount), payment["currency"], payment["_id"])
        except Exception as exc:
            log.warning("payment processor unreachable; payment stays pending", extra={"payment": payment["_id"]})
            raise Unavailable("the payment processor is not answering; your payment is pending") from exc
        mail_to = payment.get("notify_email") or ""
        autopay = bool(payment.get("autopay"))
        by_id = {i["_id"]: i for i in invoices}
        if charge.succeeded:
            done = {**payment, "status": "SUCCEEDED", "processor_reference": charge.reference}
            outgoing: list[Any] = [events.payment_succeeded(done)]
            if mail_to:
                outgoing.append(events.receipt_mail(self.options.mail_from, mail_to, done, invoices))
            saved = await self.store.finish_payment(
                payment["_id"], {"status": "SUCCEEDED", "processor_reference": charge.reference}, outgoing
            )
            for allocation in payment["allocations"]:
                invoice = by_id[allocation["invoice_id"]]
                paid = int(invoice.get("paid_minor", 0)) + allocation["amount_minor"]
                await self.store.apply_payment_to_invoice(
                    invoice["_id"], payment["_id"], paid, rules.status_after_payment(invoice, paid)
                )
        else:
            done = {**payment, "status": "FAILED", "failure_reason": charge.failure_reason}
            outgoing = [events.payment_failed(done)]
            if mail_to and autopay:
                outgoing.append(events.payment_failed_mail(self.options.mail_from, mail_to, done, invoices))
            saved = await self.store.finish_payment(
                payment["_id"], {"status": "FAILED", "failure_reason": charge.failure_reason}, outgoing
            )
            for invoice_id in payment["invoice_ids"]:
                await self.store.release_invoice_claim(invoice_id, payment["_id"])
        return saved or done

    async def settle_pending_payments(self, older_than: timedelta = timedelta(seconds=30)) -> int:
        """The schedule's second job: payments left PENDING (the processor did not answer, or an
        instance stopped mid-payment) are charged again under the same processor key and finished."""
        settled = 0
        for payment in await self.store.pending_payments(self.clock.now() - older_than):
            method = await self.store.get_method_any(payment["payment_method_id"])
            invoices = await self.store.get_invoices(payment["invoice_ids"])
            if method is None or len(invoices) != len(payment["invoice_ids"]):
                continue
            with contextlib.suppress(Unavailable):
                await self._charge(payment, method, invoices)
                settled += 1
        return settled

    # --- back office ---------------------------------------------------------------------------
    async def issue_invoice(self, caller: Caller, values: Doc) -> Doc:
        rules.require_back_office(caller)
        account_id = rules.clean_text(values.get("account_id"), "accountId", required=True)
        issue_date = rules.parse_date(values.get("issue_date") or "", "issueDate")
        due_date = rules.parse_date(values.get("due_date") or "", "dueDate")
        if due_date < issue_date:
            raise InvalidInput("the due date is before the invoice date")
        lines, total = rules.invoice_lines(values.get("lines") or [])
        number = (
            rules.clean_text(values.get("number"), "number") or f"INV-{await self.store.next_number('invoice'):06d}"
        )
        invoice = self._invoice(account_id, number, issue_date.isoformat(), due_date.isoformat(), values, lines, total)
        await self.store.insert_invoice(invoice, [events.invoice_issued(invoice)])
        return invoice

    def _invoice(
        self, account_id: str, number: str, issued: str, due: str, values: Doc, lines: list[Doc], total: int
    ) -> Doc:
        return {
            "_id": new_id("inv"),
            "account_id": account_id,
            "number": number,
            "number_key": f"{account_id}:{number}",
            "issue_date": issued,
            "due_date": due,
            "currency": rules.clean_currency(values.get("currency") or "USD"),
            "lines": lines,
            "total_minor": total,
            "paid_minor": 0,
            "status": "OPEN",
            "payment_claim": None,
            "payments": [],
            "autopay_attempt": None,
            "created_at": self.clock.now(),
        }

    async def record_usages(self, caller: Caller, rows: list[Doc]) -> int:
        rules.require_back_office(caller)
        if not rows:
            raise InvalidInput("give at least one usage record")
        if len(rows) > rules.MAX_USAGE_ROWS:
            raise InvalidInput(f"at most {rules.MAX_USAGE_ROWS} usage records per call")
        clean = [self._usage(row) for row in rows]
        recorded = 0
        for usage in clean:
            recorded += await self.store.record_usage(usage)
        return recorded

    def _usage(self, row: Doc) -> Doc:
        quantity = rules.decimal_of(row.get("quantity") or "", "quantity")
        description = rules.clean_text(row.get("description"), "description", required=True)
        unit = rules.clean_text(row.get("unit"), "unit", required=True, limit=40)
        account_id = rules.clean_text(row.get("account_id"), "accountId", required=True)
        external_id = rules.clean_text(row.get("external_id"), "externalId", required=True)
        return {
            "_id": rules.usage_id(account_id, external_id),
            "account_id": account_id,
            "external_id": external_id,
            "description": description,
            "description_lower": description.lower(),
            "date": rules.parse_date(row.get("date") or "", "date").isoformat(),
            "quantity": str(quantity),
            "unit": unit,
            "unit_key": unit.lower(),
            "invoice_id": row.get("invoice_id") or "",
            "invoiced": bool(row.get("invoice_id")),
            "created_at": self.clock.now(),
        }

    # --- usage export --------------------------------------------------------------------------
    async def export_usages(
        self, caller: Caller, account_id: str, filters: Doc, columns: list[str], fmt: str, notify: Person | None
    ) -> Doc:
        account_id = rules.account_of(caller, account_id)
        rules.require_pay(caller, account_id)
        if fmt not in ("CSV", "XLSX"):
            raise InvalidInput("format must be CSV or XLSX")
        columns = list(dict.fromkeys(columns)) or USAGE_COLUMNS
        export = {
            "_id": new_id("uxp"),
            "account_id": account_id,
            "user_id": caller.user_id,
            "email": notify.email if notify else "",
            "format": fmt,
            "columns": columns,
            "filter": self._usage_filters(filters),
            "status": "PENDING",
            "claimed_until": None,
            "row_count": None,
            "expires_at": None,
            "created_at": self.clock.now(),
        }
        await self.store.insert_export(export)
        self.export_wakeup.set()
        return export

    async def get_usage_export(self, caller: Caller, export_id: str) -> Doc:
        export = await self.store.get_export(export_id)
        if export is None or (export["user_id"] != caller.user_id and not caller.is_staff):
            raise NotFound("usage export not found")
        if not rules.can_read(caller, export):
            raise NotFound("usage export not found")
        return export

    def export_url(self, export: Doc) -> str:
        expires = export.get("expires_at")
        if export.get("status") != "READY" or expires is None:
            return ""
        return self.links.url("usage-exports", export["_id"], export["user_id"], as_utc(expires))

    async def build_next_export(self) -> bool:
        """Build one pending export, if any (the background worker calls this until it says False)."""
        now = self.clock.now()
        export = await self.store.claim_pending_export(now, now + CLAIM_TTL)
        if export is None:
            return False
        try:
            usages = await self.store.newest_usages(export["account_id"], export["filter"], rules.EXPORT_ROW_LIMIT)
            invoice_ids = list({u["invoice_id"] for u in usages if u.get("invoice_id")})
            numbers: dict[str, str] = {}
            for start in range(0, len(invoice_ids), 100):
                numbers.update(
                    {i["_id"]: i["number"] for i in await self.store.get_invoices(invoice_ids[start : start + 100])}
                )
            rows = documents.usage_rows(usages, export["columns"], numbers)
            if export["format"] == "CSV":
                data, content_type, name = documents.usages_csv(export["columns"], rows), documents.CSV_TYPE, "csv"
            else:
                data = await asyncio.to_thread(documents.usages_xlsx, export["columns"], rows)
                content_type, name = documents.XLSX_TYPE, "xlsx"
            await self.store.save_export_file(export["_id"], data, content_type, f"usage-{export['_id']}.{name}")
            expires_at = self.clock.now() + EXPORT_LINK_TTL
            ready = {**export, "status": "READY", "row_count": len(rows), "expires_at": expires_at}
            outgoing: list[Any] = [events.export_ready(ready, len(rows))]
            if export.get("email"):
                url = self.export_url(ready)
                outgoing.append(
                    events.export_mail(
                        self.options.mail_from, export["email"], ready, len(rows), url, expires_at.isoformat()
                    )
                )
            await self.store.finish_export(
                export["_id"], {"status": "READY", "row_count": len(rows), "expires_at": expires_at}, outgoing
            )
        except Exception:
            log.exception("usage export failed", extra={"export": export["_id"]})
            await self.store.finish_export(export["_id"], {"status": "FAILED"}, [])
        return True

    # --- downloads ---------------------------------------------------------------------------
    async def invoice_pdf(self, caller: Caller, invoice_id: str, token: str) -> tuple[str, str, bytes]:
        self.links.check(token, "invoices", invoice_id, caller.user_id, self.clock.now())
        found = await self.get_invoices(caller, [invoice_id])
        if not found:
            raise NotFound("invoice not found")
        invoice = found[0]
        data = await asyncio.to_thread(documents.invoice_pdf, invoice, self.status_of(invoice))
        return f"invoice-{invoice['number']}.pdf", documents.PDF_TYPE, data

    async def export_file(self, caller: Caller, export_id: str, token: str) -> tuple[str, str, bytes]:
        self.links.check(token, "usage-exports", export_id, caller.user_id, self.clock.now())
        export = await self.store.get_export(export_id)
        stored = await self.store.get_export_file(export_id)
        if export is None or stored is None or export.get("status") != "READY" or not rules.can_read(caller, export):
            raise NotFound("usage export not found")
        return str(stored["filename"]), str(stored["content_type"]), bytes(stored["data"])

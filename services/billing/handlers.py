"""gRPC handlers of BillingService: convert, call the domain as the verified caller, convert back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc.aio

from portalkit.auth import Caller
from portalkit.convert import to_timestamp
from portalkit.enums import enum_name
from portalkit.grpc_server import caller, caller_token
from portalkit.pagination import Page
from protos.billing.v1 import billing_pb2 as pb
from protos.billing.v1 import billing_pb2_grpc as pb_grpc
from services.billing import rules
from services.billing.domain import Billing, Person

Context: TypeAlias = grpc.aio.ServicerContext
# Who the caller is as a mail recipient: identity's fresh answer for the caller's own token.
Directory = Callable[[str], Awaitable[Person | None]]
CHUNK = 64 * 1024


def money(minor: int, currency: str) -> pb.Money:
    return pb.Money(amount=rules.money_text(minor), currency=currency or "USD")


class Messages:
    """Documents to messages, for one caller (download links are made for them)."""

    def __init__(self, billing: Billing, who: Caller) -> None:
        self.billing = billing
        self.caller = who

    def invoice(self, doc: dict[str, Any]) -> pb.Invoice:
        currency = doc.get("currency") or "USD"
        return pb.Invoice(
            id=doc["_id"],
            account_id=doc["account_id"],
            number=str(doc.get("number", "")),
            issue_date=doc.get("issue_date") or "",
            due_date=doc.get("due_date") or "",
            total=money(int(doc.get("total_minor", 0)), currency),
            balance_due=money(rules.balance_minor(doc), currency),
            status=pb.InvoiceStatus.Value(self.billing.status_of(doc)),
            lines=[
                pb.InvoiceLine(
                    description=line["description"],
                    quantity=line["quantity"],
                    unit_price=money(line["unit_price_minor"], currency),
                    amount=money(line["amount_minor"], currency),
                )
                for line in doc.get("lines", [])
            ],
            pdf_url=self.billing.pdf_url(self.caller, doc["_id"]),
            created_at=to_timestamp(doc["created_at"]),
        )

    @staticmethod
    def credit(doc: dict[str, Any]) -> pb.Credit:
        return pb.Credit(
            id=doc["_id"],
            account_id=doc["account_id"],
            number=doc["number"],
            date=doc["date"],
            amount=money(doc["amount_minor"], doc["currency"]),
            balance=money(doc["balance_minor"], doc["currency"]),
            reference=doc.get("reference") or "",
        )

    @staticmethod
    def payment(doc: dict[str, Any]) -> pb.Payment:
        return pb.Payment(
            id=doc["_id"],
            account_id=doc["account_id"],
            number=doc["number"],
            date=to_timestamp(doc["created_at"]),
            method_description=doc["method_description"],
            amount=money(doc["amount_minor"], doc["currency"]),
            status=pb.PaymentStatus.Value(doc["status"]),
            failure_reason=doc.get("failure_reason") or "",
            invoice_ids=doc["invoice_ids"],
            autopay=bool(doc.get("autopay")),
        )

    @staticmethod
    def method(doc: dict[str, Any]) -> pb.PaymentMethod:
        message = pb.PaymentMethod(
            id=doc["_id"],
            account_id=doc["account_id"],
            type=pb.PaymentMethodType.Value(doc["type"]),
            brand=doc.get("brand") or "",
            last4=doc["last4"],
            bank_name=doc.get("bank_name") or "",
            is_default=bool(doc.get("is_default")),
            created_at=to_timestamp(doc["created_at"]),
        )
        if doc.get("exp_month"):
            message.exp_month = int(doc["exp_month"])
            message.exp_year = int(doc["exp_year"])
        return message

    @staticmethod
    def usage(doc: dict[str, Any]) -> pb.Usage:
        return pb.Usage(
            id=doc["_id"],
            account_id=doc["account_id"],
            description=doc["description"],
            date=doc["date"],
            quantity=doc["quantity"],
            unit=doc["unit"],
            invoiced=bool(doc.get("invoiced")),
            invoice_id=doc.get("invoice_id") or "",
            external_id=doc.get("external_id") or "",
        )

    def export(self, doc: dict[str, Any]) -> pb.UsageExport:
        message = pb.UsageExport(
            id=doc["_id"],
            account_id=doc["account_id"],
            status=pb.ExportStatus.Value(
                f"EXPORT_STATUS_{'PENDING' if doc['status'] == 'BUILDING' else doc['status']}"
            ),
            format=pb.ExportFormat.Value(doc["format"]),
            download_url=self.billing.export_url(doc) if doc["user_id"] == self.caller.user_id else "",
            created_at=to_timestamp(doc["created_at"]),
        )
        if doc.get("row_count") is not None:
            message.row_count = int(doc["row_count"])
        if doc.get("expires_at") is not None:
            message.expires_at.CopyFrom(to_timestamp(doc["expires_at"]))
        return message

    def summary(self, summary: dict[str, Any]) -> pb.BillingSummary:
        message = pb.BillingSummary(
            account_id=summary["account_id"],
            account_balance=money(summary["balance_minor"], summary["currency"]),
            open_invoice_count=summary["open_invoice_count"],
            can_make_payment=summary["can_make_payment"],
            autopay=self.autopay(summary["autopay"]),
            payment_method_types=[pb.PaymentMethodType.Value(t) for t in summary["payment_method_types"]],
        )
        if summary["last_payment"] is not None:
            message.last_payment.CopyFrom(self.payment(summary["last_payment"]))
        if summary["last_invoice"] is not None:
            message.last_invoice.CopyFrom(self.invoice(summary["last_invoice"]))
        return message

    def autopay(self, doc: dict[str, Any]) -> pb.AutopaySettings:
        message = pb.AutopaySettings(account_id=doc["account_id"], enabled=doc["enabled"])
        if doc.get("payment_method") is not None:
            message.payment_method.CopyFrom(self.method(doc["payment_method"]))
        return message


def _usage_filter(f: pb.UsageFilter) -> dict[str, Any]:
    return {
        "from": getattr(f, "from"),
        "to": f.to,
        "invoiced": f.invoiced if f.HasField("invoiced") else None,
        "unit": f.unit,
        "search": f.search,
    }


def _page_fields(page: Page) -> dict[str, Any]:
    return {"next_page_token": page.next_token, "total_count": page.total, "cursors": page.cursors}


class BillingHandlers(pb_grpc.BillingServiceServicer):
    def __init__(self, billing: Billing, directory: Directory | None = None) -> None:
        self.billing = billing
        self.directory = directory

    def _m(self) -> Messages:
        return Messages(self.billing, caller())

    async def _person(self, context: Context) -> Person | None:
        """The caller as a mail recipient (a fresh read from identity, with the caller's own token)."""
        if self.directory is None:
            return None
        return await self.directory(caller_token())

    # --- reads -------------------------------------------------------------------------------
    async def GetBillingSummary(self, request: pb.AccountRequest, context: Context) -> pb.BillingSummary:
        m = self._m()
        return m.summary(await self.billing.summary(m.caller, request.account_id))

    async def BatchGetBillingSummaries(
        self, request: pb.BatchGetRequest, context: Context
    ) -> pb.BatchGetBillingSummariesResponse:
        m = self._m()
        summaries = await self.billing.summaries(m.caller, list(request.ids))
        return pb.BatchGetBillingSummariesResponse(summaries=[m.summary(s) for s in summaries])

    async def BatchGetInvoices(
        self, request: pb.BatchGetInvoicesRequest, context: Context
    ) -> pb.BatchGetInvoicesResponse:
        m = self._m()
        docs = await self.billing.get_invoices(m.caller, list(request.ids))
        return pb.BatchGetInvoicesResponse(invoices=[m.invoice(d) for d in docs])

    async def BatchGetCredits(self, request: pb.BatchGetRequest, context: Context) -> pb.BatchGetCreditsResponse:
        docs = await self.billing.get_credits(caller(), list(request.ids))
        return pb.BatchGetCreditsResponse(credits=[Messages.credit(d) for d in docs])

    async def BatchGetPayments(self, request: pb.BatchGetRequest, context: Context) -> pb.BatchGetPaymentsResponse:
        docs = await self.billing.get_payments(caller(), list(request.ids))
        return pb.BatchGetPaymentsResponse(payments=[Messages.payment(d) for d in docs])

    async def BatchGetUsages(self, request: pb.BatchGetRequest, context: Context) -> pb.BatchGetUsagesResponse:
        docs = await self.billing.get_usages(caller(), list(request.ids))
        return pb.BatchGetUsagesResponse(usages=[Messages.usage(d) for d in docs])

    async def BatchGetPaymentMethods(
        self, request: pb.BatchGetRequest, context: Context
    ) -> pb.BatchGetPaymentMethodsResponse:
        docs = await self.billing.get_payment_methods(caller(), list(request.ids))
        return pb.BatchGetPaymentMethodsResponse(payment_methods=[Messages.method(d) for d in docs])

    async def ListInvoices(self, request: pb.ListInvoicesRequest, context: Context) -> pb.ListInvoicesResponse:
        m = self._m()
        f = request.filter
        filters = {"status": [enum_name(pb.InvoiceStatus, s) for s in f.status], "from": getattr(f, "from"), "to": f.to}
        page = await self.billing.list_invoices(
            m.caller, request.account_id, filters, request.page_size, request.page_token
        )
        return pb.ListInvoicesResponse(invoices=[m.invoice(d) for d in page.docs], **_page_fields(page))

    async def ListCredits(self, request: pb.ListRequest, context: Context) -> pb.ListCreditsResponse:
        page = await self.billing.list_credits(caller(), request.account_id, request.page_size, request.page_token)
        return pb.ListCreditsResponse(credits=[Messages.credit(d) for d in page.docs], **_page_fields(page))

    async def ListPayments(self, request: pb.ListRequest, context: Context) -> pb.ListPaymentsResponse:
        page = await self.billing.list_payments(caller(), request.account_id, request.page_size, request.page_token)
        return pb.ListPaymentsResponse(payments=[Messages.payment(d) for d in page.docs], **_page_fields(page))

    async def ListUsages(self, request: pb.ListUsagesRequest, context: Context) -> pb.ListUsagesResponse:
        page = await self.billing.list_usages(
            caller(), request.account_id, _usage_filter(request.filter), request.page_size, request.page_token
        )
        return pb.ListUsagesResponse(usages=[Messages.usage(d) for d in page.docs], **_page_fields(page))

    async def ListPaymentMethods(self, request: pb.AccountRequest, context: Context) -> pb.ListPaymentMethodsResponse:
        docs = await self.billing.list_payment_methods(caller(), request.account_id)
        return pb.ListPaymentMethodsResponse(payment_methods=[Messages.method(d) for d in docs])

    # --- payment methods, autopay, paying -------------------------------------------------------
    async def AddPaymentMethod(self, request: pb.AddPaymentMethodRequest, context: Context) -> pb.PaymentMethod:
        values: dict[str, Any] = {"make_default": request.make_default}
        which = request.WhichOneof("method")
        if which == "card":
            c = request.card
            values["card"] = {
                "number": c.number,
                "exp_month": c.exp_month,
                "exp_year": c.exp_year,
                "cvc": c.cvc,
                "name_on_card": c.name_on_card,
                "postal_code": c.postal_code,
            }
        elif which == "bank_account":
            b = request.bank_account
            values["bank_account"] = {
                "routing_number": b.routing_number,
                "account_number": b.account_number,
                "account_holder_name": b.account_holder_name,
            }
        method = await self.billing.add_payment_method(caller(), request.account_id, values)
        return Messages.method(method)

    async def DeletePaymentMethod(self, request: pb.IdRequest, context: Context) -> pb.Done:
        return pb.Done(ok=await self.billing.delete_payment_method(caller(), request.id))

    async def SetDefaultPaymentMethod(self, request: pb.IdRequest, context: Context) -> pb.PaymentMethod:
        return Messages.method(await self.billing.set_default_payment_method(caller(), request.id))

    async def SetAutopay(self, request: pb.SetAutopayRequest, context: Context) -> pb.AutopaySettings:
        m = self._m()
        notify = await self._person(context) if request.enabled else None
        settings = await self.billing.set_autopay(
            m.caller, request.account_id, request.enabled, request.payment_method_id, notify
        )
        return m.autopay(settings)

    async def PreviewPayment(self, request: pb.PaymentRequest, context: Context) -> pb.PaymentPreview:
        m = self._m()
        preview = await self.billing.preview_payment(m.caller, request.payment_method_id, list(request.invoice_ids))
        return pb.PaymentPreview(
            invoices=[m.invoice(i) for i in preview["invoices"]],
            total=money(preview["total_minor"], preview["currency"]),
            payment_method=m.method(preview["payment_method"]),
        )

    async def MakePayment(self, request: pb.PaymentRequest, context: Context) -> pb.Payment:
        who = caller()
        notify = await self._person(context)
        payment = await self.billing.make_payment(
            who, request.payment_method_id, list(request.invoice_ids), request.idempotency_key, notify
        )
        return Messages.payment(payment)

    # --- back office ---------------------------------------------------------------------------
    async def IssueInvoice(self, request: pb.IssueInvoiceRequest, context: Context) -> pb.Invoice:
        m = self._m()
        values = {
            "account_id": request.account_id,
            "number": request.number,
            "issue_date": request.issue_date,
            "due_date": request.due_date,
            "currency": request.currency,
            "lines": [
                {"description": line.description, "quantity": line.quantity, "unit_price": line.unit_price}
                for line in request.lines
            ],
        }
        return m.invoice(await self.billing.issue_invoice(m.caller, values))

    async def RecordUsages(self, request: pb.RecordUsagesRequest, context: Context) -> pb.RecordUsagesResponse:
        rows = [
            {
                "account_id": u.account_id,
                "external_id": u.external_id,
                "description": u.description,
                "date": u.date,
                "quantity": u.quantity,
                "unit": u.unit,
            }
            for u in request.usages
        ]
        return pb.RecordUsagesResponse(recorded=await self.billing.record_usages(caller(), rows))

    # --- exports and downloads -------------------------------------------------------------------
    async def ExportUsages(self, request: pb.ExportUsagesRequest, context: Context) -> pb.UsageExport:
        m = self._m()
        notify = await self._person(context)
        export = await self.billing.export_usages(
            m.caller,
            request.account_id,
            _usage_filter(request.filter),
            [enum_name(pb.UsageColumn, c) for c in request.columns if c],
            enum_name(pb.ExportFormat, request.format) or "XLSX",
            notify,
        )
        return m.export(export)

    async def GetUsageExport(self, request: pb.IdRequest, context: Context) -> pb.UsageExport:
        m = self._m()
        return m.export(await self.billing.get_usage_export(m.caller, request.id))

    async def DownloadInvoicePdf(self, request: pb.DownloadRequest, context: Context) -> AsyncIterator[pb.FileChunk]:
        name, content_type, data = await self.billing.invoice_pdf(caller(), request.id, request.token)
        for chunk in _chunks(name, content_type, data):
            yield chunk

    async def DownloadUsageExport(self, request: pb.DownloadRequest, context: Context) -> AsyncIterator[pb.FileChunk]:
        name, content_type, data = await self.billing.export_file(caller(), request.id, request.token)
        for chunk in _chunks(name, content_type, data):
            yield chunk


def _chunks(name: str, content_type: str, data: bytes) -> list[pb.FileChunk]:
    parts = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
    return [
        pb.FileChunk(filename=name if n == 0 else "", content_type=content_type if n == 0 else "", data=part)
        for n, part in enumerate(parts)
    ]

"""Billing's root query fields."""

from __future__ import annotations

import strawberry

from gateway.schema.billing.types import (
    BillingSummary,
    Credit,
    Invoice,
    InvoiceFilter,
    Payment,
    PaymentInput,
    PaymentMethod,
    PaymentPreview,
    Usage,
    UsageExport,
    UsageFilter,
    invoice_filter_pb,
    load_invoice,
    usage_filter_pb,
)
from gateway.schema.common import Connection, Ctx, connection, none_if_not_found, page_size
from protos.billing.v1 import billing_pb2 as pb


def _stub(info: Ctx):  # type: ignore[no-untyped-def]
    return info.context.clients.stubs["billing"]


@strawberry.type
class BillingQuery:
    @strawberry.field(description="The dashboard header; staff name the account.")
    async def billing_summary(self, info: Ctx, account_id: strawberry.ID | None = None) -> BillingSummary:
        reply = await info.context.call(
            "billing", _stub(info).GetBillingSummary, pb.AccountRequest(account_id=account_id or "")
        )
        return BillingSummary.from_pb(reply)

    @strawberry.field
    async def invoices(
        self,
        info: Ctx,
        account_id: strawberry.ID | None = None,
        filter: InvoiceFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Invoice]:
        request = pb.ListInvoicesRequest(
            account_id=account_id or "",
            filter=invoice_filter_pb(filter),
            page_size=page_size(first),
            page_token=after or "",
        )
        reply = await info.context.call("billing", _stub(info).ListInvoices, request)
        return connection(reply, reply.invoices, Invoice.from_pb)

    @strawberry.field
    async def invoice(self, info: Ctx, id: strawberry.ID) -> Invoice | None:
        return await load_invoice(info, str(id))

    @strawberry.field
    async def credits(
        self, info: Ctx, account_id: strawberry.ID | None = None, first: int | None = 50, after: str | None = None
    ) -> Connection[Credit]:
        request = pb.ListRequest(account_id=account_id or "", page_size=page_size(first), page_token=after or "")
        reply = await info.context.call("billing", _stub(info).ListCredits, request)
        return connection(reply, reply.credits, Credit.from_pb)

    @strawberry.field
    async def payments(
        self, info: Ctx, account_id: strawberry.ID | None = None, first: int | None = 50, after: str | None = None
    ) -> Connection[Payment]:
        request = pb.ListRequest(account_id=account_id or "", page_size=page_size(first), page_token=after or "")
        reply = await info.context.call("billing", _stub(info).ListPayments, request)
        return connection(reply, reply.payments, Payment.from_pb)

    @strawberry.field
    async def usages(
        self,
        info: Ctx,
        account_id: strawberry.ID | None = None,
        filter: UsageFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Usage]:
        request = pb.ListUsagesRequest(
            account_id=account_id or "",
            filter=usage_filter_pb(filter),
            page_size=page_size(first),
            page_token=after or "",
        )
        reply = await info.context.call("billing", _stub(info).ListUsages, request)
        return connection(reply, reply.usages, Usage.from_pb)

    @strawberry.field
    async def payment_methods(self, info: Ctx, account_id: strawberry.ID | None = None) -> list[PaymentMethod]:
        request = pb.AccountRequest(account_id=account_id or "")
        reply = await info.context.call("billing", _stub(info).ListPaymentMethods, request)
        return [PaymentMethod.from_pb(m) for m in reply.payment_methods]

    @strawberry.field(description="The review step before makePayment: what would be paid, with what.")
    async def payment_preview(self, info: Ctx, input: PaymentInput) -> PaymentPreview:
        request = pb.PaymentRequest(payment_method_id=input.payment_method_id, invoice_ids=input.invoice_ids)
        return PaymentPreview.from_pb(await info.context.call("billing", _stub(info).PreviewPayment, request))

    @strawberry.field
    async def usage_export(self, info: Ctx, id: strawberry.ID) -> UsageExport | None:
        reply = await none_if_not_found(
            info.context.call("billing", _stub(info).GetUsageExport, pb.IdRequest(id=str(id)))
        )
        return UsageExport.from_pb(reply) if reply is not None else None

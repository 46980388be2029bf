"""Billing's mutations. Card numbers and CVCs pass through to the billing service and its processor
adapter; the gateway neither keeps nor logs them."""

from __future__ import annotations

import strawberry

from gateway.schema.billing.enums import ExportFormat, UsageColumn
from gateway.schema.billing.types import (
    AddPaymentMethodInput,
    AutopaySettings,
    Invoice,
    IssueInvoiceInput,
    Payment,
    PaymentInput,
    PaymentMethod,
    UsageExport,
    UsageFilter,
    UsageRecordInput,
    usage_filter_pb,
)
from gateway.schema.common import Ctx
from protos.billing.v1 import billing_pb2 as pb


def _stub(info: Ctx):  # type: ignore[no-untyped-def]
    return info.context.clients.stubs["billing"]


@strawberry.type
class BillingMutation:
    @strawberry.mutation(description="Exactly one of card or bankAccount; only a processor token is kept.")
    async def add_payment_method(
        self, info: Ctx, input: AddPaymentMethodInput, account_id: strawberry.ID | None = None
    ) -> PaymentMethod:
        request = pb.AddPaymentMethodRequest(account_id=account_id or "", make_default=bool(input.make_default))
        if input.card is not None:
            c = input.card
            request.card.CopyFrom(
                pb.CardInput(
                    number=c.number,
                    exp_month=c.exp_month,
                    exp_year=c.exp_year,
                    cvc=c.cvc,
                    name_on_card=c.name_on_card,
                    postal_code=c.postal_code or "",
                )
            )
        if input.bank_account is not None:
            if input.card is not None:
                from gateway.errors import bad_input

                raise bad_input("give exactly one of card or bankAccount")
            b = input.bank_account
            request.bank_account.CopyFrom(
                pb.BankAccountInput(
                    routing_number=b.routing_number,
                    account_number=b.account_number,
                    account_holder_name=b.account_holder_name,
                )
            )
        return PaymentMethod.from_pb(await info.context.call("billing", _stub(info).AddPaymentMethod, request))

    @strawberry.mutation
    async def delete_payment_method(self, info: Ctx, id: strawberry.ID) -> bool:
        reply = await info.context.call("billing", _stub(info).DeletePaymentMethod, pb.IdRequest(id=str(id)))
        return bool(reply.ok)

    @strawberry.mutation
    async def set_default_payment_method(self, info: Ctx, id: strawberry.ID) -> PaymentMethod:
        reply = await info.context.call("billing", _stub(info).SetDefaultPaymentMethod, pb.IdRequest(id=str(id)))
        return PaymentMethod.from_pb(reply)

    @strawberry.mutation(description="Turning autopay on needs a payment method (the default one unless named).")
    async def set_autopay(
        self,
        info: Ctx,
        enabled: bool,
        account_id: strawberry.ID | None = None,
        payment_method_id: strawberry.ID | None = None,
    ) -> AutopaySettings:
        request = pb.SetAutopayRequest(
            account_id=account_id or "", enabled=enabled, payment_method_id=payment_method_id or ""
        )
        return AutopaySettings.from_pb(await info.context.call("billing", _stub(info).SetAutopay, request))

    @strawberry.mutation(description="The same idempotencyKey with the same input returns the same payment.")
    async def make_payment(self, info: Ctx, input: PaymentInput, idempotency_key: str) -> Payment:
        request = pb.PaymentRequest(
            payment_method_id=input.payment_method_id, invoice_ids=input.invoice_ids, idempotency_key=idempotency_key
        )
        return Payment.from_pb(await info.context.call("billing", _stub(info).MakePayment, request))

    @strawberry.mutation(description="PENDING at once; the requester is emailed a download link when READY.")
    async def export_usages(
        self,
        info: Ctx,
        account_id: strawberry.ID | None = None,
        filter: UsageFilter | None = None,
        columns: list[UsageColumn] | None = None,
        format: ExportFormat = ExportFormat["XLSX"],
    ) -> UsageExport:
        request = pb.ExportUsagesRequest(
            account_id=account_id or "",
            filter=usage_filter_pb(filter),
            columns=[c.to_pb() for c in columns or []],
            format=format.to_pb(),
        )
        return UsageExport.from_pb(await info.context.call("billing", _stub(info).ExportUsages, request))

    @strawberry.mutation(description="SUPPORT_ADMIN. Publishes invoice.issued.")
    async def issue_invoice(self, info: Ctx, input: IssueInvoiceInput) -> Invoice:
        request = pb.IssueInvoiceRequest(
            account_id=input.account_id,
            number=input.number or "",
            issue_date=input.issue_date.isoformat(),
            due_date=input.due_date.isoformat(),
            currency=input.currency,
            lines=[
                pb.InvoiceLineInput(
                    description=line.description, quantity=str(line.quantity), unit_price=str(line.unit_price)
                )
                for line in input.lines
            ],
        )
        return Invoice.from_pb(await info.context.call("billing", _stub(info).IssueInvoice, request))

    @strawberry.mutation(description="SUPPORT_ADMIN. Idempotent by externalId; returns how many were new.")
    async def record_usages(self, info: Ctx, input: list[UsageRecordInput]) -> int:
        request = pb.RecordUsagesRequest(
            usages=[
                pb.UsageRecordInput(
                    account_id=u.account_id,
                    external_id=u.external_id,
                    description=u.description,
                    date=u.date.isoformat(),
                    quantity=str(u.quantity),
                    unit=u.unit,
                )
                for u in input
            ]
        )
        return int((await info.context.call("billing", _stub(info).RecordUsages, request)).recorded)

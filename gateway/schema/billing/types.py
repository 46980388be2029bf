"""Billing's graph types, as the contract has them: invoices, credits, payments, usage, autopay."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from gateway.schema.billing import loaders
from gateway.schema.billing.enums import ExportFormat, ExportStatus, InvoiceStatus, PaymentMethodType, PaymentStatus
from gateway.schema.common import (
    Ctx,
    Money,
    Node,
    Reference,
    References,
    dt,
    made,
    on_read,
    optional_dt,
    read_by_id,
)
from protos.billing.v1 import billing_pb2 as pb

if TYPE_CHECKING:
    from gateway.schema.cases.types import Attachment


def money(m: pb.Money) -> Money:
    return Money(amount=Decimal(m.amount or "0"), currency=m.currency)


def day(text: str) -> date:
    return date.fromisoformat(text)


@strawberry.type()
class InvoiceLine:
    description: str
    quantity: Decimal
    unit_price: Money
    amount: Money

    @classmethod
    def from_pb(cls, m: pb.InvoiceLine) -> InvoiceLine:
        return cls(
            description=m.description,
            quantity=Decimal(m.quantity),
            unit_price=money(m.unit_price),
            amount=money(m.amount),
        )


@strawberry.type()
class Invoice(Node):
    id: strawberry.ID
    number: str
    issue_date: date = on_read(lambda m: day(m.issue_date))
    due_date: date = on_read(lambda m: day(m.due_date))
    total: Money = on_read(lambda m: money(m.total))
    balance_due: Money = on_read(lambda m: money(m.balance_due))
    status: InvoiceStatus = on_read(lambda m: InvoiceStatus.from_pb(m.status))
    lines: list[InvoiceLine] = on_read(lambda m: [InvoiceLine.from_pb(line) for line in m.lines])
    pdf_url: str = strawberry.field(description="Gateway URL of the rendered PDF.")
    attachments: list[Annotated[Attachment, strawberry.lazy("gateway.schema.cases.types")]]
    message: strawberry.Private[pb.Invoice]

    @classmethod
    def from_pb(cls, m: pb.Invoice) -> Invoice:
        return made(cls, m, id=strawberry.ID(m.id), number=m.number, pdf_url=m.pdf_url, attachments=[])


@strawberry.input()
class InvoiceFilter:
    status: list[InvoiceStatus] | None = None
    from_: date | None = strawberry.field(name="from", default=None)
    to: date | None = None


@strawberry.type()
class Credit(Node):
    id: strawberry.ID
    number: str
    date: date
    amount: Money
    balance: Money
    reference: str | None

    @classmethod
    def from_pb(cls, m: pb.Credit) -> Credit:
        return cls(
            id=strawberry.ID(m.id),
            number=m.number,
            date=day(m.date),
            amount=money(m.amount),
            balance=money(m.balance),
            reference=m.reference or None,
        )


@strawberry.type()
class PaymentMethod(Node):
    id: strawberry.ID
    type: PaymentMethodType
    brand: str | None
    last4: str
    exp_month: int | None
    exp_year: int | None
    bank_name: str | None
    is_default: bool
    created_at: datetime

    @classmethod
    def from_pb(cls, m: pb.PaymentMethod) -> PaymentMethod:
        return cls(
            id=strawberry.ID(m.id),
            type=PaymentMethodType.from_pb(m.type),
            brand=m.brand or None,
            last4=m.last4,
            exp_month=m.exp_month if m.HasField("exp_month") else None,
            exp_year=m.exp_year if m.HasField("exp_year") else None,
            bank_name=m.bank_name or None,
            is_default=m.is_default,
            created_at=dt(m.created_at),
        )


@strawberry.type()
class Payment(Node):
    id: strawberry.ID
    number: str
    date: datetime = on_read(lambda m: dt(m.date))
    method_description: str = strawberry.field(
        description="Method as it was when paid (brand and last four), even if later deleted."
    )
    amount: Money = on_read(lambda m: money(m.amount))
    status: PaymentStatus = on_read(lambda m: PaymentStatus.from_pb(m.status))
    failure_reason: str | None = on_read(lambda m: m.failure_reason or None)
    invoice_ids: strawberry.Private[list[str]]
    message: strawberry.Private[pb.Payment]

    @classmethod
    def from_pb(cls, m: pb.Payment) -> Payment:
        return made(
            cls,
            m,
            id=strawberry.ID(m.id),
            number=m.number,
            method_description=m.method_description,
            invoice_ids=list(m.invoice_ids),
        )

    @strawberry.field
    async def invoices(self, info: Ctx) -> list[Invoice]:
        found = await info.context.loader(loaders.invoices).load_many(self.invoice_ids)
        return [Invoice.from_pb(i) for i in found if i is not None]


@strawberry.type()
class Usage(Node):
    id: strawberry.ID
    description: str
    date: date = on_read(lambda m: day(m.date))
    quantity: Decimal = on_read(lambda m: Decimal(m.quantity))
    unit: str
    invoiced: bool
    invoice_id: strawberry.Private[str]
    message: strawberry.Private[pb.Usage]

    @classmethod
    def from_pb(cls, m: pb.Usage) -> Usage:
        return made(
            cls,
            m,
            id=strawberry.ID(m.id),
            description=m.description,
            unit=m.unit,
            invoiced=m.invoiced,
            invoice_id=m.invoice_id,
        )

    @strawberry.field
    def invoice(self, info: Ctx) -> Invoice | None:
        return REFERENCES["Usage"]["invoice"].resolve(info, self)


@strawberry.input()
class UsageFilter:
    from_: date | None = strawberry.field(name="from", default=None)
    to: date | None = None
    invoiced: bool | None = None
    unit: str | None = None
    search: str | None = None


@strawberry.type()
class UsageExport:
    id: strawberry.ID
    status: ExportStatus
    format: ExportFormat
    row_count: int | None
    download_url: str | None = strawberry.field(description="Set when READY; time-limited.")
    expires_at: datetime | None
    created_at: datetime

    @classmethod
    def from_pb(cls, m: pb.UsageExport) -> UsageExport:
        return cls(
            id=strawberry.ID(m.id),
            status=ExportStatus.from_pb(m.status),
            format=ExportFormat.from_pb(m.format),
            row_count=m.row_count if m.HasField("row_count") else None,
            download_url=m.download_url or None,
            expires_at=optional_dt(m, "expires_at"),
            created_at=dt(m.created_at),
        )


@strawberry.type()
class AutopaySettings:
    enabled: bool
    payment_method: PaymentMethod | None

    @classmethod
    def from_pb(cls, m: pb.AutopaySettings) -> AutopaySettings:
        method = PaymentMethod.from_pb(m.payment_method) if m.HasField("payment_method") else None
        return cls(enabled=m.enabled, payment_method=method)


@strawberry.type()
class BillingSummary:
    account_balance: Money
    last_payment: Payment | None
    last_invoice: Invoice | None
    open_invoice_count: int
    can_make_payment: bool = strawberry.field(
        description="For the caller: an open balance and a role that may pay (every portal user of the account)."
    )
    autopay: AutopaySettings
    payment_method_types: list[PaymentMethodType] = strawberry.field(
        description="The kinds of payment method this account may add, as the payment processor is set up."
    )

    @classmethod
    def from_pb(cls, m: pb.BillingSummary) -> BillingSummary:
        return cls(
            account_balance=money(m.account_balance),
            last_payment=Payment.from_pb(m.last_payment) if m.HasField("last_payment") else None,
            last_invoice=Invoice.from_pb(m.last_invoice) if m.HasField("last_invoice") else None,
            open_invoice_count=m.open_invoice_count,
            can_make_payment=m.can_make_payment,
            autopay=AutopaySettings.from_pb(m.autopay),
            payment_method_types=[PaymentMethodType.from_pb(t) for t in m.payment_method_types],
        )


@strawberry.input()
class CardInput:
    number: str
    exp_month: int
    exp_year: int
    cvc: str
    name_on_card: str
    postal_code: str | None = None


@strawberry.input()
class BankAccountInput:
    routing_number: str
    account_number: str
    account_holder_name: str


@strawberry.input(description="Exactly one of card or bankAccount.")
class AddPaymentMethodInput:
    card: CardInput | None = None
    bank_account: BankAccountInput | None = None
    make_default: bool | None = False


@strawberry.input()
class PaymentInput:
    payment_method_id: strawberry.ID
    invoice_ids: list[strawberry.ID]


@strawberry.type()
class PaymentPreview:
    invoices: list[Invoice]
    total: Money
    payment_method: PaymentMethod

    @classmethod
    def from_pb(cls, m: pb.PaymentPreview) -> PaymentPreview:
        return cls(
            invoices=[Invoice.from_pb(i) for i in m.invoices],
            total=money(m.total),
            payment_method=PaymentMethod.from_pb(m.payment_method),
        )


@strawberry.input()
class InvoiceLineInput:
    description: str
    quantity: Decimal
    unit_price: Decimal


@strawberry.input()
class IssueInvoiceInput:
    account_id: strawberry.ID
    number: str | None = None
    issue_date: date
    due_date: date
    currency: str = "USD"
    lines: list[InvoiceLineInput]


@strawberry.input()
class UsageRecordInput:
    account_id: strawberry.ID
    external_id: str = strawberry.field(description="Idempotency: the same externalId is recorded once.")
    description: str
    date: date
    quantity: Decimal
    unit: str


load_invoice = read_by_id(loaders.invoices, Invoice.from_pb)


load_credit = read_by_id(loaders.credits, Credit.from_pb)


load_payment = read_by_id(loaders.payments, Payment.from_pb)


load_usage = read_by_id(loaders.usages, Usage.from_pb)


load_payment_method = read_by_id(loaders.payment_methods, PaymentMethod.from_pb)


def invoice_filter_pb(f: InvoiceFilter | None) -> pb.InvoiceFilter:
    message = pb.InvoiceFilter()
    if f is None:
        return message
    message.status.extend(s.to_pb() for s in f.status or [])
    setattr(message, "from", f.from_.isoformat() if f.from_ else "")
    message.to = f.to.isoformat() if f.to else ""
    return message


def usage_filter_pb(f: UsageFilter | None) -> pb.UsageFilter:
    message = pb.UsageFilter()
    if f is None:
        return message
    setattr(message, "from", f.from_.isoformat() if f.from_ else "")
    message.to = f.to.isoformat() if f.to else ""
    if f.invoiced is not None:
        message.invoiced = f.invoiced
    message.unit = f.unit or ""
    message.search = f.search or ""
    return message


REFERENCES: References = {
    "Usage": {"invoice": Reference(loaders.invoices, "invoice_id", lambda found, _: Invoice.from_pb(found))}
}

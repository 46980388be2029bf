"""Billing's graph types, as the contract has them: invoices, credits, payments, usage, autopay."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from gateway.schema.billing.enums import ExportFormat, ExportStatus, InvoiceStatus, PaymentMethodType, PaymentStatus
from gateway.schema.common import Money, Node

if TYPE_CHECKING:
    from gateway.schema.cases.types import Attachment


@strawberry.type()
class InvoiceLine:
    description: str
    quantity: Decimal
    unit_price: Money
    amount: Money


@strawberry.type()
class Invoice(Node):
    id: strawberry.ID
    number: str
    issue_date: date
    due_date: date
    total: Money
    balance_due: Money
    status: InvoiceStatus
    lines: list[InvoiceLine]
    pdf_url: str = strawberry.field(description="Gateway URL of the rendered PDF.")
    attachments: list[Annotated[Attachment, strawberry.lazy("gateway.schema.cases.types")]]


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


@strawberry.type()
class Payment(Node):
    id: strawberry.ID
    number: str
    date: datetime
    method_description: str = strawberry.field(
        description="Method as it was when paid (brand and last four), even if later deleted."
    )
    amount: Money
    status: PaymentStatus
    failure_reason: str | None
    invoices: list[Invoice]


@strawberry.type()
class Usage(Node):
    id: strawberry.ID
    description: str
    date: date
    quantity: Decimal
    unit: str
    invoiced: bool
    invoice: Invoice | None


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


@strawberry.type()
class AutopaySettings:
    enabled: bool
    payment_method: PaymentMethod | None


@strawberry.type()
class BillingSummary:
    account_balance: Money
    last_payment: Payment | None
    last_invoice: Invoice | None
    open_invoice_count: int
    can_make_payment: bool
    autopay: AutopaySettings


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

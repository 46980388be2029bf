"""Billing in the graph: the contract's types; root fields arrive with the billing service."""

from __future__ import annotations

import strawberry

from gateway.schema.billing.enums import UsageColumn
from gateway.schema.billing.mutations import BillingMutation as Mutation
from gateway.schema.billing.queries import BillingQuery as Query
from gateway.schema.billing.types import (
    AddPaymentMethodInput,
    BillingSummary,
    Credit,
    Invoice,
    InvoiceFilter,
    IssueInvoiceInput,
    Payment,
    PaymentInput,
    PaymentMethod,
    PaymentPreview,
    Usage,
    UsageExport,
    UsageFilter,
    UsageRecordInput,
)
from gateway.schema.common import Connection, NodeResolver


@strawberry.type
class BillingSubscription:
    """None in the contract."""


Subscription = BillingSubscription

NODES: dict[str, NodeResolver] = {}  # invoices, credits, payments …, once the service can read them whole
# No root field reaches these yet; each goes once one does.
TYPES: list[type] = [
    BillingSummary,
    Connection[Invoice],
    InvoiceFilter,
    Connection[Credit],
    Connection[Payment],
    Connection[Usage],
    UsageFilter,
    UsageColumn,
    UsageExport,
    PaymentMethod,
    PaymentInput,
    PaymentPreview,
    AddPaymentMethodInput,
    IssueInvoiceInput,
    UsageRecordInput,
]

__all__ = ["NODES", "TYPES", "Mutation", "Query", "Subscription"]

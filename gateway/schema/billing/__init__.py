"""Billing in the graph: invoices, credits, payments, usage and its exports, payment methods, autopay."""

from __future__ import annotations

import strawberry

from gateway.schema.billing.mutations import BillingMutation as Mutation
from gateway.schema.billing.queries import BillingQuery as Query
from gateway.schema.billing.types import (
    REFERENCES,
    load_credit,
    load_invoice,
    load_payment,
    load_payment_method,
    load_usage,
)
from gateway.schema.common import NodeResolver


@strawberry.type
class BillingSubscription:
    """None in the contract."""


Subscription = BillingSubscription

NODES: dict[str, NodeResolver] = {
    "inv_": load_invoice,
    "crd_": load_credit,
    "pay_": load_payment,
    "pm_": load_payment_method,
    "usg_": load_usage,
}
TYPES: list[type] = []  # every billing type is reached from a field

__all__ = ["NODES", "REFERENCES", "TYPES", "Mutation", "Query", "Subscription"]

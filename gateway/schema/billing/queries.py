"""Billing's root query fields: none yet (billingSummary, invoices … arrive with the billing service)."""

from __future__ import annotations

import strawberry


@strawberry.type
class BillingQuery:
    pass

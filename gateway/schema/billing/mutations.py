"""Billing's mutations: none yet (addPaymentMethod … arrive with the billing service)."""

from __future__ import annotations

import strawberry


@strawberry.type
class BillingMutation:
    pass

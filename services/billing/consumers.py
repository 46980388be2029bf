"""The events the billing service consumes: its consumer table (empty until its domain needs one)."""

from __future__ import annotations

from portalkit.consumers import Consumer
from services.billing.domain import Billing


def consumers(domain: Billing) -> list[Consumer]:
    return []

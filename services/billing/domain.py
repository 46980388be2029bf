"""Billing operations, callable without a server (no gRPC, no Mongo here: see store.py)."""

from __future__ import annotations

from typing import Any

from portalkit.auth import Caller
from portalkit.batch import batch_get
from services.billing import rules
from services.billing.store import BillingStore


class Billing:
    def __init__(self, store: BillingStore) -> None:
        self.store = store

    async def get_invoices(self, caller: Caller, ids: list[str]) -> list[dict[str, Any]]:
        return await batch_get(ids, self.store.get_invoices, lambda doc: rules.can_read(caller, doc))

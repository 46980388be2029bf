"""Every MongoDB call of the billing service, each a method named for what it does."""

from __future__ import annotations

from typing import Any

from portalkit.mongo import Document
from portalkit.outbox import AggregateCollection


class BillingStore:
    def __init__(self, db: Any) -> None:
        self.invoices = AggregateCollection(db, "invoices")

    @property
    def aggregates(self) -> list[AggregateCollection]:
        return [self.invoices]

    async def ensure_indexes(self) -> None:
        await self.invoices.ensure_index([("account_id", 1)])

    async def get_invoices(self, ids: list[str]) -> list[Document]:
        return await self.invoices.find_many({"_id": {"$in": ids}})

"""Every MongoDB call of the billing service."""

from __future__ import annotations

from typing import Any

from portalkit.mongo import Document, TracedCollection


class BillingStore:
    def __init__(self, db: Any) -> None:
        self.invoices = TracedCollection(db, "invoices")

    @property
    def outbox_collections(self) -> list[TracedCollection]:
        return [self.invoices]

    async def ensure_indexes(self) -> None:
        await self.invoices.ensure_index([("account_id", 1)])

    async def insert(self, document: Document) -> None:
        await self.invoices.insert_one(document)

    async def get_many(self, ids: list[str]) -> list[Document]:
        return await self.invoices.find_many({"_id": {"$in": ids}})

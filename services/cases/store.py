"""Every MongoDB call of the cases service."""

from __future__ import annotations

from typing import Any

from portalkit.mongo import Document, TracedCollection


class CasesStore:
    def __init__(self, db: Any) -> None:
        self.cases = TracedCollection(db, "cases")

    @property
    def outbox_collections(self) -> list[TracedCollection]:
        return [self.cases]

    async def ensure_indexes(self) -> None:
        await self.cases.ensure_index([("account_id", 1)])

    async def insert(self, document: Document) -> None:
        await self.cases.insert_one(document)

    async def get_many(self, ids: list[str]) -> list[Document]:
        return await self.cases.find_many({"_id": {"$in": ids}})

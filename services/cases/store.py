"""Every MongoDB call of the cases service, each a method named for what it does."""

from __future__ import annotations

from typing import Any

from portalkit.mongo import Document
from portalkit.outbox import AggregateCollection


class CasesStore:
    def __init__(self, db: Any) -> None:
        self.cases = AggregateCollection(db, "cases")

    @property
    def aggregates(self) -> list[AggregateCollection]:
        return [self.cases]

    async def ensure_indexes(self) -> None:
        await self.cases.ensure_index([("account_id", 1)])

    async def get_cases(self, ids: list[str]) -> list[Document]:
        return await self.cases.find_many({"_id": {"$in": ids}})

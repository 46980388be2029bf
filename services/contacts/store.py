"""Every MongoDB call of the contacts service, each a method named for what it does."""

from __future__ import annotations

from typing import Any

from portalkit.mongo import Document
from portalkit.outbox import AggregateCollection


class ContactsStore:
    def __init__(self, db: Any) -> None:
        self.contacts = AggregateCollection(db, "contacts")

    @property
    def aggregates(self) -> list[AggregateCollection]:
        return [self.contacts]

    async def ensure_indexes(self) -> None:
        await self.contacts.ensure_index([("account_id", 1)])

    async def get_contacts(self, ids: list[str]) -> list[Document]:
        return await self.contacts.find_many({"_id": {"$in": ids}})

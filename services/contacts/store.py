"""Every MongoDB call of the contacts service."""

from __future__ import annotations

from typing import Any

from portalkit.mongo import Document, TracedCollection


class ContactsStore:
    def __init__(self, db: Any) -> None:
        self.contacts = TracedCollection(db, "contacts")

    @property
    def outbox_collections(self) -> list[TracedCollection]:
        return [self.contacts]

    async def ensure_indexes(self) -> None:
        await self.contacts.ensure_index([("account_id", 1)])

    async def insert(self, document: Document) -> None:
        await self.contacts.insert_one(document)

    async def get_many(self, ids: list[str]) -> list[Document]:
        return await self.contacts.find_many({"_id": {"$in": ids}})

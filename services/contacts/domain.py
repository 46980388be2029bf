"""Contacts operations, callable without a server."""

from __future__ import annotations

from typing import Any

from portalkit.auth import Caller
from services.contacts import rules
from services.contacts.store import ContactsStore

MAX_BATCH = 500


class Contacts:
    def __init__(self, store: ContactsStore) -> None:
        self.store = store

    async def batch_get(self, caller: Caller, ids: list[str]) -> list[dict[str, Any]]:
        """In request order; unknown ids and those the caller may not read are left out."""
        wanted = list(dict.fromkeys(ids))[:MAX_BATCH]
        found = {doc["_id"]: doc for doc in await self.store.get_many(wanted)}
        return [found[i] for i in wanted if i in found and rules.can_read(caller, found[i])]

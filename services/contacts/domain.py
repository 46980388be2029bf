"""Contacts operations, callable without a server (no gRPC, no Mongo here: see store.py)."""

from __future__ import annotations

from typing import Any

from portalkit.auth import Caller
from portalkit.batch import batch_get
from services.contacts import rules
from services.contacts.store import ContactsStore


class Contacts:
    def __init__(self, store: ContactsStore) -> None:
        self.store = store

    async def get_contacts(self, caller: Caller, ids: list[str]) -> list[dict[str, Any]]:
        return await batch_get(ids, self.store.get_contacts, lambda doc: rules.can_read(caller, doc))

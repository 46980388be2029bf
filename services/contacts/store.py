"""Every MongoDB call of the contacts service, each a method named for what it does.

Documents:
- contacts: {_id: con_…, account_id, first_name, last_name, email, email_key, phone, title, is_primary,
             name_key ("last first", lower case: the name order), portal_enabled, portal_role,
             portal_access_status, access_as_of (time of the identity event that set it), user_id,
             is_user, external_id, sync_version, sync_status, last_synced_at, created_at, updated_at,
             deleted_at, applied_events[], _outbox[]}
  A deleted contact stays as a tombstone until its events are relayed (its outbox lives in it);
  `email_key` is freed so the address can be used again.
- accounts: {_id: acc_…, portal_enabled, as_of}: this service's copy of identity's portal switch.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from portalkit.errors import Conflict
from portalkit.mongo import Document
from portalkit.outbox import AggregateCollection, Outgoing
from portalkit.pagination import ASC, DESC, Ordering, Page, fetch_page

ORDERINGS = {
    "NAME_ASC": Ordering("name_asc", (("name_key", ASC),)),
    "NAME_DESC": Ordering("name_desc", (("name_key", DESC),)),
    "EMAIL_ASC": Ordering("email_asc", (("email", ASC),)),
    "UPDATED_AT_DESC": Ordering("updated_desc", (("updated_at", DESC),)),
}
TEXT_COLUMNS = {"name": "name_text", "email": "email", "phone": "phone", "title": "title"}
LIVE = {"deleted_at": None}


def _contains(text: str) -> dict[str, Any]:
    return {"$regex": re.escape(text), "$options": "i"}


class ContactsStore:
    def __init__(self, db: Any) -> None:
        self.contacts = AggregateCollection(db, "contacts")
        self.accounts = AggregateCollection(db, "accounts")

    @property
    def aggregates(self) -> list[AggregateCollection]:
        return [self.contacts]

    async def ensure_indexes(self) -> None:
        await self.contacts.ensure_index([("account_id", 1), ("email_key", 1)], unique=True)
        await self.contacts.ensure_index([("account_id", 1), ("external_id", 1)])
        await self.contacts.ensure_index([("account_id", 1), ("name_key", 1), ("_id", 1)])
        await self.contacts.ensure_index([("account_id", 1), ("updated_at", -1), ("_id", -1)])
        await self.contacts.ensure_index([("user_id", 1)])

    # reads ------------------------------------------------------------------------------------
    async def get_contacts(self, ids: list[str]) -> list[Document]:
        return await self.contacts.find_many({"_id": {"$in": ids}, **LIVE})

    async def get_contact(self, contact_id: str) -> Document | None:
        return await self.contacts.find_one({"_id": contact_id, **LIVE})

    async def find_by_email(self, account_id: str, email: str) -> Document | None:
        return await self.contacts.find_one({"account_id": account_id, "email_key": email, **LIVE})

    async def find_by_external_id(self, account_id: str, external_id: str) -> Document | None:
        return await self.contacts.find_one({"account_id": account_id, "external_id": external_id, **LIVE})

    async def find_by_user(self, user_id: str) -> Document | None:
        return await self.contacts.find_one({"user_id": user_id, **LIVE})

    async def list_contacts(
        self, account_id: str, columns: dict[str, Any], search: str, order: str, size: int, token: str
    ) -> Page:
        """Contacts of an account ("" = every account), text columns matched case-insensitively
        anywhere in the value, booleans exactly; `search` matches any text column."""
        query: dict[str, Any] = dict(LIVE)
        if account_id:
            query["account_id"] = account_id
        for column, value in columns.items():
            if column in TEXT_COLUMNS:
                query[TEXT_COLUMNS[column]] = _contains(value)
            else:
                query[column] = value
        if search:
            query["$or"] = [{field: _contains(search)} for field in TEXT_COLUMNS.values()]
        return await fetch_page(self.contacts, query, size, token, ORDERINGS[order])

    async def portal_enabled(self, account_id: str) -> bool:
        """The provider's switch as last heard from identity; on until heard otherwise."""
        account = await self.accounts.find_one({"_id": account_id})
        return account is None or bool(account["portal_enabled"])

    # writes -----------------------------------------------------------------------------------
    async def insert_contact(self, contact: Document, outgoing: Outgoing) -> None:
        try:
            await self.contacts.insert(contact, outgoing)
        except DuplicateKeyError as exc:
            raise Conflict(f"{contact['email']} is already a contact of this account", reason="EMAIL_TAKEN") from exc

    async def change_contact(
        self, contact_id: str, version: int, changes: Document, outgoing: Outgoing
    ) -> Document | None:
        """Apply `changes` if the contact is still at sync `version` (no lost update)."""
        try:
            return await self.contacts.change(
                {"_id": contact_id, "sync_version": version, **LIVE}, {"$set": changes}, outgoing
            )
        except DuplicateKeyError as exc:
            raise Conflict(
                f"{changes.get('email')} is already a contact of this account", reason="EMAIL_TAKEN"
            ) from exc

    async def apply_access_event(
        self, contact_id: str, event_time: str, changes: Document, outgoing: Outgoing, event_id: str
    ) -> Document | None:
        """Apply an identity event's effect once, and only if it is newer than the last one applied
        (an event that arrives late changes nothing)."""
        return await self.contacts.change(
            {"_id": contact_id, "access_as_of": {"$lt": event_time}},
            {"$set": {**changes, "access_as_of": event_time}},
            outgoing,
            event_id=event_id,
        )

    async def mark_synced(self, contact_id: str, version: int, at: datetime) -> None:
        """The back office got this version (our own contact.synced came back from the broker)."""
        await self.contacts.change(
            {"_id": contact_id, "sync_version": version}, {"$set": {"sync_status": "SYNCED", "last_synced_at": at}}
        )

    async def set_portal_switch(self, account_id: str, enabled: bool, event_time: str) -> None:
        """Keep the newest switch state heard (an older event arriving late changes nothing)."""
        matched = await self.accounts.change(
            {"_id": account_id, "as_of": {"$lt": event_time}},
            {"$set": {"portal_enabled": enabled, "as_of": event_time}},
        )
        if matched is None and await self.accounts.find_one({"_id": account_id}) is None:
            with_duplicate = {"_id": account_id, "portal_enabled": enabled, "as_of": event_time}
            try:
                await self.accounts.insert(with_duplicate)
            except DuplicateKeyError:
                await self.set_portal_switch(account_id, enabled, event_time)

"""Contacts operations, callable without a server (no gRPC, no Mongo here: see store.py).

Portal access is choreographed through events only (design.md 5.1-5.3): this service records the
wish (`portal_enabled`) and publishes `contact.portal_access_changed`; identity invites or
deactivates and says so; the identity events move `portal_access_status` here.
"""

from __future__ import annotations

from typing import Any

from portalkit.auth import Caller
from portalkit.batch import MAX_BATCH, batch_get
from portalkit.catalog import AccountUpdated, ContactSynced, Event
from portalkit.clock import Clock
from portalkit.consumers import Received
from portalkit.errors import Conflict, InvalidInput, NotFound
from portalkit.ids import new_id
from portalkit.pagination import Page
from services.contacts import events, rules
from services.contacts.store import ORDERINGS, ContactsStore

Doc = dict[str, Any]


class Contacts:
    def __init__(self, store: ContactsStore, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or Clock()

    # --- reads -------------------------------------------------------------------------------
    async def get_contacts(self, caller: Caller, ids: list[str]) -> list[Doc]:
        return await batch_get(ids, self.store.get_contacts, lambda doc: rules.can_read(caller, doc))

    async def list_contacts(
        self, caller: Caller, account_id: str, filters: Doc, order: str, size: int, token: str
    ) -> Page:
        if not caller.is_staff:  # staff read any account's contacts, or all of them
            account_id = account_id or caller.account_id
            rules.require_read(caller, account_id)
        order = order or "NAME_ASC"
        if order not in ORDERINGS:
            raise InvalidInput(f"unknown order {order}")
        columns = {k: v for k, v in filters.items() if k != "search" and v not in (None, "")}
        search = str(filters.get("search") or "").strip()
        return await self.store.list_contacts(account_id, columns, search, order, size, token)

    async def list_contacts_of_accounts(
        self, caller: Caller, account_ids: list[str], filters: Doc, order: str, size: int, token: str
    ) -> list[tuple[str, Page]]:
        """The same page for each account (Account.contacts in a list): (account id, page)."""
        account_ids = list(dict.fromkeys(account_ids))
        if len(account_ids) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} accounts per call")
        for account_id in account_ids:
            rules.require_read(caller, account_id)
        return [
            (account_id, await self.list_contacts(caller, account_id, filters, order, size, token))
            for account_id in account_ids
        ]

    # --- changes by people ---------------------------------------------------------------------
    async def create_contact(self, caller: Caller, account_id: str, values: Doc) -> Doc:
        account_id = rules.account_of(caller, account_id)
        rules.require_manage(caller, account_id)
        fields = rules.contact_fields(values, partial=False)
        portal = values.get("portal_enabled")
        portal = True if portal is None else bool(portal)  # invited by default, as the seeds describe
        role = rules.clean_role(values.get("portal_role") or "USER")
        if portal:
            rules.require_portal_on(await self.store.portal_enabled(account_id))
        contact = self._new(account_id, fields, portal, role, external_id=values.get("external_id") or "")
        outgoing: list[Event] = events.created(contact)
        if portal:
            outgoing.append(events.portal_access_changed(contact))
        await self.store.insert_contact(contact, outgoing)
        return contact

    def _new(self, account_id: str, fields: Doc, portal: bool, role: str, external_id: str = "") -> Doc:
        now = self.clock.now()
        return {
            "_id": new_id("con"),
            "account_id": account_id,
            **_derived(fields),
            "portal_enabled": portal,
            "portal_role": role,
            "portal_access_status": "NONE",
            "access_as_of": "",
            "user_id": "",
            "is_user": False,
            "external_id": external_id,
            "sync_version": 1,
            "sync_status": "PENDING",
            "last_synced_at": None,
            "created_at": now,
            "updated_at": now,
            "deleted_at": None,
        }

    async def _managed(self, caller: Caller, contact_id: str) -> Doc:
        contact = await self.store.get_contact(contact_id)
        if contact is None or not rules.can_read(caller, contact):
            raise NotFound("contact not found")
        rules.require_manage(caller, contact["account_id"])
        return contact

    async def update_contact(self, caller: Caller, contact_id: str, values: Doc) -> Doc:
        contact = await self._managed(caller, contact_id)
        return await self._update(contact, rules.contact_fields(values, partial=True))

    async def _update(self, contact: Doc, fields: Doc, extra: list[Event] | None = None) -> Doc:
        after = {**contact, **_derived({**contact, **fields})}
        changed = rules.changed_fields(contact, {k: after[k] for k in (*fields, "portal_enabled", "portal_role")})
        if not changed:
            return contact
        after.update(sync_version=contact["sync_version"] + 1, sync_status="PENDING", updated_at=self.clock.now())
        changes = {k: after[k] for k in (*_derived_keys(fields), "sync_version", "sync_status", "updated_at")}
        saved = await self.store.change_contact(
            contact["_id"], contact["sync_version"], changes, [*events.updated(after, changed), *(extra or [])]
        )
        if saved is None:
            raise Conflict("the contact changed meanwhile; try again")
        return saved

    async def set_portal_access(self, caller: Caller, contact_id: str, enabled: bool, role: str) -> Doc:
        contact = await self._managed(caller, contact_id)
        role = rules.clean_role(role)
        if enabled:
            rules.require_portal_on(await self.store.portal_enabled(contact["account_id"]))
        if contact["portal_enabled"] == enabled and (not enabled or contact.get("portal_role") == role):
            return contact
        wanted = {**contact, "portal_enabled": enabled, "portal_role": role}
        return await self._update(
            contact, {"portal_enabled": enabled, "portal_role": role}, [events.portal_access_changed(wanted)]
        )

    async def delete_contact(self, caller: Caller, contact_id: str) -> bool:
        contact = await self._managed(caller, contact_id)
        now = self.clock.now()
        gone = {**contact, "sync_version": contact["sync_version"] + 1, "deleted_at": now}
        saved = await self.store.change_contact(
            contact["_id"],
            contact["sync_version"],
            {"deleted_at": now, "email_key": f"deleted:{contact['_id']}", "sync_version": gone["sync_version"]},
            events.deleted(gone),
        )
        if saved is None:
            raise Conflict("the contact changed meanwhile; try again")
        return True

    async def upsert_external(self, caller: Caller, rows: list[Doc]) -> list[Doc]:
        """Back-office pushes, by (accountId, externalId): the same row twice is one contact and one
        event. A pushed contact is not invited (the back office grants no portal access)."""
        if not rows:
            raise InvalidInput("give at least one contact")
        if len(rows) > rules.MAX_EXTERNAL_ROWS:
            raise InvalidInput(f"at most {rules.MAX_EXTERNAL_ROWS} contacts per call")
        for row in rows:
            rules.require_manage(caller, str(row.get("account_id") or ""))
        results = []
        for row in rows:
            account_id, external_id = str(row["account_id"]), rules.clean_text(row.get("external_id"), "externalId")
            if not external_id:
                raise InvalidInput("externalId must not be empty")
            existing = await self.store.find_by_external_id(account_id, external_id)
            if existing is None:
                fields = rules.contact_fields({**row, "is_primary": False}, partial=False)
                contact = self._new(account_id, fields, False, "USER", external_id)
                await self.store.insert_contact(contact, events.created(contact))
                results.append(contact)
            else:  # what the back office leaves out (null) stays as the portal has it
                results.append(await self._update(existing, rules.contact_fields(row, partial=True)))
        return results

    # --- reactions to events (the table is in consumers.py) -----------------------------------
    async def on_account_updated(self, event: Received[AccountUpdated]) -> None:
        await self.store.set_portal_switch(event.data.account_id, event.data.portal_enabled, event.time)

    async def on_identity_event(self, event: Received[Any]) -> None:
        """invitation.sent / invitation.accepted / user.activated / user.deactivated for a user
        linked to a contact: the contact's portal-access status follows."""
        data = event.data
        contact_id = getattr(data, "contact_id", None)
        if not contact_id:
            return  # a user who is not a contact
        contact = await self.store.get_contact(contact_id)
        if contact is None:
            return  # deleted meanwhile
        status = rules.ACCESS_AFTER[data.routing_key]
        after = {**contact, "portal_access_status": status, "user_id": data.user_id, "is_user": True}
        after.update(sync_version=contact["sync_version"] + 1, sync_status="PENDING", updated_at=self.clock.now())
        changed = rules.changed_fields(contact, {k: after[k] for k in ("portal_access_status", "user_id", "is_user")})
        if not changed:
            return
        keys = ("portal_access_status", "user_id", "is_user", "sync_version", "sync_status", "updated_at")
        await self.store.apply_access_event(
            contact_id, event.time, {k: after[k] for k in keys}, events.updated(after, changed), event.id
        )

    async def on_contact_synced(self, event: Received[ContactSynced]) -> None:
        """Our own contact.synced came back from the broker: that version reached the back office."""
        await self.store.mark_synced(event.data.contact_id, event.data.version, self.clock.now())


def _derived(fields: Doc) -> Doc:
    """The stored contact fields, with the keys the store sorts and filters on."""
    out = dict(fields)
    if "first_name" in fields or "last_name" in fields:
        first, last = fields.get("first_name", ""), fields.get("last_name", "")
        out["name_key"] = f"{last} {first}".lower()
        out["name_text"] = f"{first} {last}"
    if "email" in fields:
        out["email_key"] = fields["email"]
    return out


def _derived_keys(fields: Doc) -> list[str]:
    return list(_derived({k: fields.get(k, "") for k in fields}).keys())

"""What the contacts service tells others (contract/events.md): snapshots for partners, the sync
record for the back office, and the portal-access change identity acts on."""

from __future__ import annotations

from typing import Any

from portalkit.catalog import (
    ContactCreated,
    ContactDeleted,
    ContactPortalAccessChanged,
    ContactSynced,
    ContactUpdated,
    Event,
)

Contact = dict[str, Any]
SNAPSHOT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "is_primary",
    "portal_enabled",
    "portal_access_status",
)


def snapshot(contact: Contact) -> dict[str, Any]:
    fields = {field: contact.get(field) for field in SNAPSHOT_FIELDS}
    return {
        "contact_id": contact["_id"],
        "account_id": contact["account_id"],
        **fields,
        "user_id": contact.get("user_id") or None,
        "external_id": contact.get("external_id") or None,
    }


def _synced(contact: Contact, operation: str) -> ContactSynced:
    data = ContactCreated(**snapshot(contact)).wire()
    return ContactSynced(
        contact_id=contact["_id"],
        account_id=contact["account_id"],
        operation=operation,
        contact=data,
        external_id=contact.get("external_id") or None,
        version=contact["sync_version"],
    )


def created(contact: Contact) -> list[Event]:
    return [ContactCreated(**snapshot(contact)), _synced(contact, "created")]


def updated(contact: Contact, changed: list[str]) -> list[Event]:
    return [ContactUpdated(**snapshot(contact), changed=changed), _synced(contact, "updated")]


def deleted(contact: Contact) -> list[Event]:
    gone = ContactDeleted(
        contact_id=contact["_id"],
        account_id=contact["account_id"],
        user_id=contact.get("user_id") or None,
        external_id=contact.get("external_id") or None,
    )
    return [gone, _synced(contact, "deleted")]


def portal_access_changed(contact: Contact) -> ContactPortalAccessChanged:
    return ContactPortalAccessChanged(
        contact_id=contact["_id"],
        account_id=contact["account_id"],
        email=contact["email"],
        name=f"{contact['first_name']} {contact['last_name']}",
        enabled=contact["portal_enabled"],
        role=contact.get("portal_role") or "USER",
        user_id=contact.get("user_id") or None,
    )

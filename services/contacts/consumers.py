"""The events the contacts service consumes: its consumer table, one durable queue per purpose."""

from __future__ import annotations

from portalkit.catalog import (
    AccountUpdated,
    ContactSynced,
    InvitationAccepted,
    InvitationSent,
    UserActivated,
    UserDeactivated,
)
from portalkit.consumers import Consumer
from services.contacts.domain import Contacts


def consumers(contacts: Contacts) -> list[Consumer]:
    return [
        Consumer("contacts.portal-switch", {AccountUpdated: contacts.on_account_updated}),
        Consumer(
            "contacts.portal-access",
            {
                InvitationSent: contacts.on_identity_event,
                InvitationAccepted: contacts.on_identity_event,
                UserActivated: contacts.on_identity_event,
                UserDeactivated: contacts.on_identity_event,
            },
        ),
        Consumer("contacts.sync-confirmed", {ContactSynced: contacts.on_contact_synced}),
    ]

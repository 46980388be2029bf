"""The events identity consumes: its consumer table, one durable queue per purpose."""

from __future__ import annotations

from portalkit.catalog import AnnouncementPublished, ContactDeleted, ContactPortalAccessChanged
from portalkit.consumers import Consumer
from services.identity.domain import Identity


def consumers(identity: Identity) -> list[Consumer]:
    return [
        Consumer(
            "identity.contact-access",
            {
                ContactPortalAccessChanged: identity.on_contact_access_changed,
                ContactDeleted: identity.on_contact_deleted,
            },
        ),
        Consumer("identity.announcement-mail", {AnnouncementPublished: identity.on_announcement_published}),
    ]

"""The events identity consumes, each on its own durable queue `identity.<purpose>`.

Every reaction is idempotent by event id (the write is conditional on it), so a redelivery is a no-op.
"""

from __future__ import annotations

from portalkit.events import Envelope, EventBus
from services.identity.domain import Identity


class IdentityConsumers:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    async def subscribe(self, bus: EventBus) -> None:
        await bus.subscribe(
            "identity.contact-access", ["contact.portal_access_changed", "contact.deleted"], self.on_contact_event
        )
        await bus.subscribe("identity.announcement-mail", ["announcement.published"], self.on_announcement)

    async def on_contact_event(self, event: Envelope) -> None:
        data = event["data"]
        if event["type"] == "portal.contact.deleted.v1":
            await self.identity.revoke_portal_access(event["id"], data["contactId"], "contact deleted")
        elif data["enabled"]:
            await self.identity.grant_portal_access(
                event["id"],
                data["contactId"],
                data["accountId"],
                data["email"],
                data.get("name") or "",
                data.get("role") or "USER",
            )
        else:
            await self.identity.revoke_portal_access(event["id"], data["contactId"], "portal access disabled")

    async def on_announcement(self, event: Envelope) -> None:
        await self.identity.mail_announcement(event["data"]["id"], event["id"])

"""Identity's subscriptions, fed by the gateway's live event hub (info.context.live)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from gateway.schema.common import Ctx
from gateway.schema.identity.loaders import get_announcements
from gateway.schema.identity.types import Announcement


@strawberry.type
class IdentitySubscription:
    @strawberry.subscription(description="Announcements as they are published.")
    async def announcement_published(self, info: Ctx) -> AsyncGenerator[Announcement, None]:
        ctx = info.context
        await ctx.caller()
        async with ctx.live.listen("announcement.published") as events:
            async for event in events:
                # fetched as the subscriber, not from a loader: one connection's loaders would cache forever
                for announcement in await get_announcements(ctx, [event["data"]["id"]]):
                    yield Announcement.from_pb(announcement)

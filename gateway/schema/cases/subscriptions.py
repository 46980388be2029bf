"""Cases' subscriptions, fed by the gateway's live event hub (info.context.live)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from gateway.errors import PortalError
from gateway.schema.cases import loaders
from gateway.schema.cases.loaders import get_cases
from gateway.schema.cases.types import Case, base_url_of
from gateway.schema.common import Ctx

COMMENT_ADDED = "portal.case.comment_added.v1"


@strawberry.type
class CasesSubscription:
    @strawberry.subscription(description="Live changes to the cases the viewer may see; one case when caseId is given.")
    async def case_updated(self, info: Ctx, case_id: strawberry.ID | None = None) -> AsyncGenerator[Case, None]:
        ctx = info.context
        viewer = await ctx.caller()
        base = base_url_of(info)
        if case_id is not None and not await get_cases(ctx, [str(case_id)]):
            raise PortalError("no such case", "NOT_FOUND")
        async with ctx.live.listen("case.*") as events:
            async for event in events:
                data = event.get("data") or {}
                if case_id is not None and data.get("caseId") != case_id:
                    continue
                if not viewer.is_staff:
                    if event.get("type") == COMMENT_ADDED and data.get("internal"):
                        continue  # an internal note is not a change a customer hears of
                    if event.get("accountid") != viewer.account_id:
                        continue  # another account's (or an unlinked) case: not worth asking
                # fetched as the subscriber, not from a loader: the service decides who sees the case,
                # and one connection's loaders would cache forever
                for found in await get_cases(ctx, [str(data.get("caseId", ""))]):
                    # the connection's loaders live as long as it does: comments and related cases
                    # are read afresh for each push
                    ctx.loader(loaders.comments).clear_all()
                    ctx.loader(loaders.cases).clear_all()
                    yield Case.from_pb(found, base)

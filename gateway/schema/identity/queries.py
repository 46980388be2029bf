"""Identity's root query fields."""

from __future__ import annotations

import strawberry

from gateway.schema.common import Connection, Ctx, connection, none_if_not_found, page_size, to_pb
from gateway.schema.identity.enums import Role, UserStatus
from gateway.schema.identity.types import (
    Account,
    Announcement,
    InvitationInfo,
    User,
    load_user,
    user_connection,
)
from protos.identity.v1 import identity_pb2 as pb


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="The logged-in user. UNAUTHENTICATED without a valid token.")
    async def me(self, info: Ctx) -> User:
        ctx = info.context
        return User.from_pb(await ctx.call("identity", ctx.clients.identity.GetMe, pb.GetMeRequest()))

    @strawberry.field(description="Viewer's own account when id is omitted; staff may name any account.")
    async def account(self, info: Ctx, id: strawberry.ID | None = None) -> Account | None:
        ctx = info.context
        request = pb.GetAccountRequest(id=id or "")
        reply = await none_if_not_found(ctx.call("identity", ctx.clients.identity.GetAccount, request))
        return Account.from_pb(reply) if reply is not None else None

    @strawberry.field
    async def accounts(
        self, info: Ctx, search: str | None = None, first: int | None = 50, after: str | None = None
    ) -> Connection[Account]:
        ctx = info.context
        request = pb.ListAccountsRequest(search=search or "", page_size=page_size(first), page_token=after or "")
        reply = await ctx.call("identity", ctx.clients.identity.ListAccounts, request)
        return connection(reply, reply.accounts, Account.from_pb)

    @strawberry.field
    async def users(
        self,
        info: Ctx,
        account_id: strawberry.ID | None = None,
        status: UserStatus | None = None,
        role: Role | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[User]:
        ctx = info.context
        request = pb.ListUsersRequest(
            account_id=account_id or "",
            status=to_pb(status),
            role=to_pb(role),
            page_size=page_size(first),
            page_token=after or "",
        )
        return user_connection(await ctx.call("identity", ctx.clients.identity.ListUsers, request))

    @strawberry.field
    async def user(self, info: Ctx, id: strawberry.ID) -> User | None:
        return await load_user(info, id)

    @strawberry.field(description="Public: what an invitation link shows.")
    async def invitation(self, info: Ctx, token: str) -> InvitationInfo | None:
        ctx = info.context
        request = pb.InvitationTokenRequest(token=token)
        reply = await none_if_not_found(
            ctx.call("identity", ctx.clients.identity.GetInvitationInfo, request, auth=False)
        )
        return InvitationInfo.from_pb(reply) if reply is not None else None

    @strawberry.field
    async def announcements(self, info: Ctx, active_only: bool | None = True) -> list[Announcement]:
        ctx = info.context
        request = pb.ListAnnouncementsRequest(active_only=active_only is not False)
        reply = await ctx.call("identity", ctx.clients.identity.ListAnnouncements, request)
        return [Announcement.from_pb(a) for a in reply.announcements]

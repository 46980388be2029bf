"""Identity's DataLoaders: one batch RPC per list of keys. They hand back the service's messages;
gateway.schema.identity.types turns them into graph types."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from gateway.context import PortalContext
from gateway.schema.common import batch_loader, by_id, pages_per_account, to_pb
from gateway.schema.identity.enums import Role, UserStatus
from protos.identity.v1 import identity_pb2 as pb


async def _get_users(ctx: PortalContext, ids: list[str]) -> Sequence[pb.User]:
    reply = await ctx.call("identity", ctx.clients.identity.BatchGetUsers, pb.BatchGetUsersRequest(ids=ids))
    return reply.users


async def _get_accounts(ctx: PortalContext, ids: list[str]) -> Sequence[pb.Account]:
    reply = await ctx.call("identity", ctx.clients.identity.BatchGetAccounts, pb.BatchGetAccountsRequest(ids=ids))
    return reply.accounts


async def get_announcements(ctx: PortalContext, ids: list[str]) -> Sequence[pb.Announcement]:
    request = pb.BatchGetAnnouncementsRequest(ids=ids)
    reply = await ctx.call("identity", ctx.clients.identity.BatchGetAnnouncements, request)
    return reply.announcements


users = by_id(_get_users)
accounts = by_id(_get_accounts)
announcements = by_id(get_announcements)


def admins(ctx: PortalContext) -> DataLoader[str, list[pb.User]]:
    async def load(account_ids: list[str]) -> list[list[pb.User]]:
        request = pb.ListAccountAdminsRequest(account_ids=account_ids)
        reply = await ctx.call("identity", ctx.clients.identity.ListAccountAdmins, request)
        grouped: dict[str, list[pb.User]] = defaultdict(list)
        for admin in reply.admins:
            grouped[admin.account_id].append(admin)
        return [grouped[i] for i in account_ids]

    return batch_loader(load)


# Account.users in a list of accounts: one BatchListUsers call per distinct set of page arguments.
UsersPageKey = tuple[str, UserStatus | None, Role | None, int, str]


def account_users(ctx: PortalContext) -> DataLoader[Any, pb.UserPage]:
    async def fetch(account_ids: list[str], page: tuple[Any, ...]) -> Sequence[pb.UserPage]:
        status, role, size, after = page
        request = pb.BatchListUsersRequest(
            account_ids=account_ids, status=to_pb(status), role=to_pb(role), page_size=size, page_token=after
        )
        return (await ctx.call("identity", ctx.clients.identity.BatchListUsers, request)).pages

    return pages_per_account(fetch)()

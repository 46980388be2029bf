"""Contacts' DataLoaders: one batch RPC per list of keys; they hand back the service's messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from gateway.context import PortalContext
from gateway.schema.common import by_id, pages_per_account
from protos.contacts.v1 import contacts_pb2 as pb


async def _get_contacts(ctx: PortalContext, ids: list[str]) -> Sequence[pb.Contact]:
    reply = await ctx.call(
        "contacts", ctx.clients.stubs["contacts"].BatchGetContacts, pb.BatchGetContactsRequest(ids=ids)
    )
    return reply.contacts


contacts = by_id(_get_contacts)

# Account.contacts in a list of accounts: one BatchListContacts call per distinct set of page arguments.
# Key: (account id, the filter message serialized, order, page size, after).
ContactsPageKey = tuple[str, bytes, int, int, str]


def account_contacts(ctx: PortalContext) -> DataLoader[Any, pb.ContactPage]:
    async def fetch(account_ids: list[str], page: tuple[Any, ...]) -> Sequence[pb.ContactPage]:
        filter_bytes, order, size, after = page
        request = pb.BatchListContactsRequest(
            account_ids=account_ids,
            filter=pb.ContactFilter.FromString(filter_bytes),
            order=order,
            page_size=size,
            page_token=after,
        )
        return (await ctx.call("contacts", ctx.clients.stubs["contacts"].BatchListContacts, request)).pages

    return pages_per_account(fetch)()

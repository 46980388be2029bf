"""Contacts' DataLoaders: one batch RPC per list of keys; they hand back the service's messages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from gateway.context import PortalContext
from gateway.schema.common import batch_loader, by_id
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


def account_contacts(ctx: PortalContext) -> DataLoader[ContactsPageKey, pb.ContactPage]:
    async def load(keys: list[ContactsPageKey]) -> list[pb.ContactPage]:
        groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for account_id, *page in keys:
            groups[tuple(page)].append(account_id)
        pages: dict[ContactsPageKey, pb.ContactPage] = {}
        for (filter_bytes, order, size, after), account_ids in groups.items():
            request = pb.BatchListContactsRequest(
                account_ids=account_ids,
                filter=pb.ContactFilter.FromString(filter_bytes),
                order=order,
                page_size=size,
                page_token=after,
            )
            reply = await ctx.call("contacts", ctx.clients.stubs["contacts"].BatchListContacts, request)
            for page in reply.pages:
                pages[(page.account_id, filter_bytes, order, size, after)] = page
        return [pages[key] for key in keys]

    return batch_loader(load)

"""Contacts' root query fields."""

from __future__ import annotations

import strawberry

from gateway.schema.common import Connection, Ctx, page_size
from gateway.schema.contacts.enums import ContactOrder
from gateway.schema.contacts.types import Contact, ContactFilter, contact_connection, filter_pb, load_contact
from protos.contacts.v1 import contacts_pb2 as pb


@strawberry.type
class ContactsQuery:
    @strawberry.field(description="ADMIN: their account's contacts; staff: any account's (accountId), or all.")
    async def contacts(
        self,
        info: Ctx,
        account_id: strawberry.ID | None = None,
        filter: ContactFilter | None = None,
        order_by: ContactOrder | None = ContactOrder["NAME_ASC"],
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Contact]:
        ctx = info.context
        request = pb.ListContactsRequest(
            account_id=account_id or "",
            filter=filter_pb(filter),
            order=(order_by or ContactOrder["NAME_ASC"]).to_pb(),
            page_size=page_size(first),
            page_token=after or "",
        )
        return contact_connection(await ctx.call("contacts", ctx.clients.stubs["contacts"].ListContacts, request))

    @strawberry.field
    async def contact(self, info: Ctx, id: strawberry.ID) -> Contact | None:
        return await load_contact(info, str(id))

"""Contacts' mutations."""

from __future__ import annotations

import strawberry

from gateway.schema.common import Ctx
from gateway.schema.contacts.types import (
    Contact,
    CreateContactInput,
    ExternalContactInput,
    UpdateContactInput,
    contact_input,
)
from gateway.schema.identity.enums import Role
from protos.contacts.v1 import contacts_pb2 as pb


@strawberry.type
class ContactsMutation:
    @strawberry.mutation(description="Invited to the portal by default (portalEnabled: false opts out).")
    async def create_contact(self, info: Ctx, input: CreateContactInput) -> Contact:
        ctx = info.context
        request = pb.CreateContactRequest(
            account_id=input.account_id or "",
            contact=contact_input(input),
            portal_role=(input.portal_role or Role["USER"]).value,
        )
        request.portal_enabled = input.portal_enabled is not False
        return Contact.from_pb(await ctx.call("contacts", ctx.clients.stubs["contacts"].CreateContact, request))

    @strawberry.mutation
    async def update_contact(self, info: Ctx, id: strawberry.ID, input: UpdateContactInput) -> Contact:
        ctx = info.context
        request = pb.UpdateContactRequest(id=id, contact=contact_input(input))
        return Contact.from_pb(await ctx.call("contacts", ctx.clients.stubs["contacts"].UpdateContact, request))

    @strawberry.mutation
    async def delete_contact(self, info: Ctx, id: strawberry.ID) -> bool:
        ctx = info.context
        reply = await ctx.call("contacts", ctx.clients.stubs["contacts"].DeleteContact, pb.ContactIdRequest(id=id))
        return bool(reply.deleted)

    @strawberry.mutation
    async def set_contact_portal_access(
        self, info: Ctx, id: strawberry.ID, enabled: bool, role: Role | None = Role["USER"]
    ) -> Contact:
        ctx = info.context
        request = pb.SetContactPortalAccessRequest(id=id, enabled=enabled, role=(role or Role["USER"]).value)
        return Contact.from_pb(
            await ctx.call("contacts", ctx.clients.stubs["contacts"].SetContactPortalAccess, request)
        )

    @strawberry.mutation(description="SUPPORT_ADMIN, or an ADMIN for their own account: back-office pushes.")
    async def upsert_external_contacts(self, info: Ctx, input: list[ExternalContactInput]) -> list[Contact]:
        ctx = info.context
        rows = [
            pb.ExternalContact(account_id=row.account_id, external_id=row.external_id, contact=contact_input(row))
            for row in input
        ]
        request = pb.UpsertExternalContactsRequest(contacts=rows)
        reply = await ctx.call("contacts", ctx.clients.stubs["contacts"].UpsertExternalContacts, request)
        return [Contact.from_pb(c) for c in reply.contacts]

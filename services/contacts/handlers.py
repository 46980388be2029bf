"""gRPC handlers of ContactsService: convert, call the domain as the verified caller, convert back."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc.aio

from portalkit.convert import to_timestamp
from portalkit.enums import enum_name
from portalkit.grpc_server import caller
from portalkit.pagination import Page
from protos.contacts.v1 import contacts_pb2 as pb
from protos.contacts.v1 import contacts_pb2_grpc as pb_grpc
from services.contacts.domain import Contacts

Context: TypeAlias = grpc.aio.ServicerContext


def contact_message(doc: dict[str, Any]) -> pb.Contact:
    message = pb.Contact(
        id=doc["_id"],
        account_id=doc["account_id"],
        first_name=doc["first_name"],
        last_name=doc["last_name"],
        email=doc["email"],
        phone=doc.get("phone") or "",
        title=doc.get("title") or "",
        is_primary=bool(doc.get("is_primary")),
        portal_enabled=bool(doc.get("portal_enabled")),
        portal_access_status=pb.PortalAccessStatus.Value(doc.get("portal_access_status") or "NONE"),
        is_user=bool(doc.get("is_user")),
        user_id=doc.get("user_id") or "",
        external_id=doc.get("external_id") or "",
        sync_status=pb.SyncStatus.Value(doc.get("sync_status") or "PENDING"),
        portal_role=doc.get("portal_role") or "USER",
        created_at=to_timestamp(doc["created_at"]),
        updated_at=to_timestamp(doc.get("updated_at") or doc["created_at"]),
    )
    if doc.get("last_synced_at"):
        message.last_synced_at.CopyFrom(to_timestamp(doc["last_synced_at"]))
    return message


def _filters(request_filter: pb.ContactFilter) -> dict[str, Any]:
    filters: dict[str, Any] = {
        name: getattr(request_filter, name) for name in ("name", "email", "phone", "title", "search")
    }
    for flag in ("portal_enabled", "is_user"):
        if request_filter.HasField(flag):
            filters[flag] = getattr(request_filter, flag)
    return filters


def _input(contact: pb.ContactInput) -> dict[str, Any]:
    """Only what the caller set: empty names/email and unset optionals mean "unchanged"."""
    values: dict[str, Any] = {k: getattr(contact, k) or None for k in ("first_name", "last_name", "email")}
    for optional in ("phone", "title", "is_primary"):
        if contact.HasField(optional):
            values[optional] = getattr(contact, optional)
    return values


def _page(account_id: str, page: Page) -> pb.ContactPage:
    return pb.ContactPage(
        account_id=account_id,
        contacts=[contact_message(d) for d in page.docs],
        next_page_token=page.next_token,
        total_count=page.total,
        cursors=page.cursors,
    )


class ContactsHandlers(pb_grpc.ContactsServiceServicer):
    def __init__(self, contacts: Contacts) -> None:
        self.contacts = contacts

    async def BatchGetContacts(
        self, request: pb.BatchGetContactsRequest, context: Context
    ) -> pb.BatchGetContactsResponse:
        docs = await self.contacts.get_contacts(caller(), list(request.ids))
        return pb.BatchGetContactsResponse(contacts=[contact_message(d) for d in docs])

    async def ListContacts(self, request: pb.ListContactsRequest, context: Context) -> pb.ContactPage:
        page = await self.contacts.list_contacts(
            caller(),
            request.account_id,
            _filters(request.filter),
            enum_name(pb.ContactOrder, request.order),
            request.page_size,
            request.page_token,
        )
        return _page(request.account_id, page)

    async def BatchListContacts(
        self, request: pb.BatchListContactsRequest, context: Context
    ) -> pb.BatchListContactsResponse:
        pages = await self.contacts.list_contacts_of_accounts(
            caller(),
            list(request.account_ids),
            _filters(request.filter),
            enum_name(pb.ContactOrder, request.order),
            request.page_size,
            request.page_token,
        )
        return pb.BatchListContactsResponse(pages=[_page(account_id, page) for account_id, page in pages])

    async def CreateContact(self, request: pb.CreateContactRequest, context: Context) -> pb.Contact:
        values = _input(request.contact)
        values["portal_role"] = request.portal_role
        if request.HasField("portal_enabled"):
            values["portal_enabled"] = request.portal_enabled
        return contact_message(await self.contacts.create_contact(caller(), request.account_id, values))

    async def UpdateContact(self, request: pb.UpdateContactRequest, context: Context) -> pb.Contact:
        return contact_message(await self.contacts.update_contact(caller(), request.id, _input(request.contact)))

    async def DeleteContact(self, request: pb.ContactIdRequest, context: Context) -> pb.DeleteContactResponse:
        return pb.DeleteContactResponse(deleted=await self.contacts.delete_contact(caller(), request.id))

    async def SetContactPortalAccess(self, request: pb.SetContactPortalAccessRequest, context: Context) -> pb.Contact:
        contact = await self.contacts.set_portal_access(caller(), request.id, request.enabled, request.role)
        return contact_message(contact)

    async def UpsertExternalContacts(
        self, request: pb.UpsertExternalContactsRequest, context: Context
    ) -> pb.UpsertExternalContactsResponse:
        rows = [
            {"account_id": row.account_id, "external_id": row.external_id, **_input(row.contact)}
            for row in request.contacts
        ]
        contacts = await self.contacts.upsert_external(caller(), rows)
        return pb.UpsertExternalContactsResponse(contacts=[contact_message(c) for c in contacts])

"""gRPC handlers of ContactsService: convert, call the domain as the verified caller, convert back."""

from __future__ import annotations

from typing import Any

import grpc.aio

from portalkit.convert import to_timestamp
from portalkit.grpc_server import caller
from protos.contacts.v1 import contacts_pb2 as pb
from protos.contacts.v1 import contacts_pb2_grpc as pb_grpc
from services.contacts.domain import Contacts


def contact_message(doc: dict[str, Any]) -> pb.Contact:
    return pb.Contact(
        id=doc["_id"],
        account_id=doc["account_id"],
        first_name=str(doc.get("first_name", "")),
        last_name=str(doc.get("last_name", "")),
        email=str(doc.get("email", "")),
        created_at=to_timestamp(doc["created_at"]),
    )


class ContactsHandlers(pb_grpc.ContactsServiceServicer):
    def __init__(self, contacts: Contacts) -> None:
        self.contacts = contacts

    async def BatchGetContacts(
        self, request: pb.BatchGetContactsRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchGetContactsResponse:
        docs = await self.contacts.get_contacts(caller(), list(request.ids))
        return pb.BatchGetContactsResponse(contacts=[contact_message(d) for d in docs])

"""gRPC handlers of ContactsService: authenticate, call the domain, convert."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc.aio

from portalkit.auth import TokenVerifier
from portalkit.convert import to_timestamp
from portalkit.grpc_server import require_caller
from protos.contacts.v1 import contacts_pb2 as pb
from protos.contacts.v1 import contacts_pb2_grpc as pb_grpc
from services.contacts.domain import Contacts

Context: TypeAlias = grpc.aio.ServicerContext


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
    def __init__(self, domain: Contacts, verifier: TokenVerifier) -> None:
        self.domain = domain
        self.verifier = verifier

    async def BatchGetContacts(
        self, request: pb.BatchGetContactsRequest, context: Context
    ) -> pb.BatchGetContactsResponse:
        caller = await require_caller(self.verifier, context)
        docs = await self.domain.batch_get(caller, list(request.ids))
        return pb.BatchGetContactsResponse(contacts=[contact_message(d) for d in docs])

"""Wires the contacts service: store, domain, handlers, outbox relay, gRPC server."""

from __future__ import annotations

import grpc.aio

from portalkit.runtime import RunningService, ServiceDeps, serve
from protos.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from services.contacts.domain import Contacts
from services.contacts.handlers import ContactsHandlers
from services.contacts.store import ContactsStore


async def start(deps: ServiceDeps, address: str) -> RunningService:
    assert deps.verifier is not None, "contacts verifies tokens with identity's keys"
    store = ContactsStore(deps.db)
    await store.ensure_indexes()
    domain = Contacts(store)
    handlers = ContactsHandlers(domain, deps.verifier)

    def register(server: grpc.aio.Server) -> list[str]:
        contacts_pb2_grpc.add_ContactsServiceServicer_to_server(handlers, server)
        return [contacts_pb2.DESCRIPTOR.services_by_name["ContactsService"].full_name]

    return await serve(deps, address, register, store.outbox_collections, {"domain": domain, "store": store})

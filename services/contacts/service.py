"""Wires the contacts service: store, domain, handlers, outbox relay, gRPC server."""

from __future__ import annotations

import grpc.aio

from portalkit.grpc_server import ServiceServer
from portalkit.outbox import OutboxRelay
from portalkit.runtime import RunningService, ServiceDeps
from protos.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from services.contacts.domain import Contacts
from services.contacts.handlers import ContactsHandlers
from services.contacts.store import ContactsStore


async def start(deps: ServiceDeps, address: str) -> RunningService:
    assert deps.verifier is not None, "contacts verifies tokens with identity's keys"
    store = ContactsStore(deps.db)
    await store.ensure_indexes()
    domain = Contacts(store)
    relay = OutboxRelay(store.outbox_collections, deps.bus, deps.mailer, deps.settings.outbox_poll_seconds)
    handlers = ContactsHandlers(domain, deps.verifier)

    def register(server: grpc.aio.Server) -> list[str]:
        contacts_pb2_grpc.add_ContactsServiceServicer_to_server(handlers, server)
        return [contacts_pb2.DESCRIPTOR.services_by_name["ContactsService"].full_name]

    server = ServiceServer("contacts", register)
    relay.start()
    await server.start(address)
    return RunningService("contacts", server, relay, {"domain": domain, "store": store})

"""The contacts service's composition root: `build(settings)` wires store, domain, handlers and consumers
into the kit's Service (relay, guarded server)."""

from __future__ import annotations

from portalkit.config import ServiceSettings
from portalkit.service import GrpcApi, Infrastructure, Service
from protos.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from services.contacts.consumers import consumers
from services.contacts.domain import Contacts
from services.contacts.handlers import ContactsHandlers
from services.contacts.store import ContactsStore
from services.identity.client import token_verifier


class ContactsSettings(ServiceSettings):
    service = "contacts"


def build(settings: ContactsSettings, infra: Infrastructure | None = None) -> Service:
    infra = (infra or Infrastructure()).complete(settings)
    store = ContactsStore(infra.db)
    domain = Contacts(store, infra.clock)
    api = GrpcApi.of(contacts_pb2, contacts_pb2_grpc, ContactsHandlers(domain))
    verifier = token_verifier(settings.identity_grpc_addr)
    return Service(settings, infra, store, domain, api, verifier.verify, consumers(domain))

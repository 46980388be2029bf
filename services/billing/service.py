"""The billing service's composition root: `build(settings)` wires store, domain, handlers and consumers
into the kit's Service (relay, guarded server)."""

from __future__ import annotations

from portalkit.config import ServiceSettings
from portalkit.service import GrpcApi, Infrastructure, Service
from protos.billing.v1 import billing_pb2, billing_pb2_grpc
from services.billing.consumers import consumers
from services.billing.domain import Billing
from services.billing.handlers import BillingHandlers
from services.billing.store import BillingStore
from services.identity.client import token_verifier


class BillingSettings(ServiceSettings):
    service = "billing"


def build(settings: BillingSettings, infra: Infrastructure | None = None) -> Service:
    infra = (infra or Infrastructure()).complete(settings)
    store = BillingStore(infra.db)
    domain = Billing(store)
    api = GrpcApi.of(billing_pb2, billing_pb2_grpc, BillingHandlers(domain))
    verifier = token_verifier(settings.identity_grpc_addr)
    return Service(settings, infra, store, domain, api, verifier.verify, consumers(domain))

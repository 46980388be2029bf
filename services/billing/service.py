"""Wires the billing service: store, domain, handlers, outbox relay, gRPC server."""

from __future__ import annotations

import grpc.aio

from portalkit.runtime import RunningService, ServiceDeps, serve
from protos.billing.v1 import billing_pb2, billing_pb2_grpc
from services.billing.domain import Billing
from services.billing.handlers import BillingHandlers
from services.billing.store import BillingStore


async def start(deps: ServiceDeps, address: str) -> RunningService:
    assert deps.verifier is not None, "billing verifies tokens with identity's keys"
    store = BillingStore(deps.db)
    await store.ensure_indexes()
    domain = Billing(store)
    handlers = BillingHandlers(domain, deps.verifier)

    def register(server: grpc.aio.Server) -> list[str]:
        billing_pb2_grpc.add_BillingServiceServicer_to_server(handlers, server)
        return [billing_pb2.DESCRIPTOR.services_by_name["BillingService"].full_name]

    return await serve(deps, address, register, store.outbox_collections, {"domain": domain, "store": store})

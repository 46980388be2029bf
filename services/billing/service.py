"""Wires the billing service: store, domain, handlers, outbox relay, gRPC server."""

from __future__ import annotations

import grpc.aio

from portalkit.grpc_server import ServiceServer
from portalkit.outbox import OutboxRelay
from portalkit.runtime import RunningService, ServiceDeps
from protos.billing.v1 import billing_pb2, billing_pb2_grpc
from services.billing.domain import Billing
from services.billing.handlers import BillingHandlers
from services.billing.store import BillingStore


async def start(deps: ServiceDeps, address: str) -> RunningService:
    assert deps.verifier is not None, "billing verifies tokens with identity's keys"
    store = BillingStore(deps.db)
    await store.ensure_indexes()
    domain = Billing(store)
    relay = OutboxRelay(store.outbox_collections, deps.bus, deps.mailer, deps.settings.outbox_poll_seconds)
    handlers = BillingHandlers(domain, deps.verifier)

    def register(server: grpc.aio.Server) -> list[str]:
        billing_pb2_grpc.add_BillingServiceServicer_to_server(handlers, server)
        return [billing_pb2.DESCRIPTOR.services_by_name["BillingService"].full_name]

    server = ServiceServer("billing", register)
    relay.start()
    await server.start(address)
    return RunningService("billing", server, relay, {"domain": domain, "store": store})

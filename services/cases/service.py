"""Wires the cases service: store, domain, handlers, outbox relay, gRPC server."""

from __future__ import annotations

import grpc.aio

from portalkit.runtime import RunningService, ServiceDeps, serve
from protos.cases.v1 import cases_pb2, cases_pb2_grpc
from services.cases.domain import Cases
from services.cases.handlers import CasesHandlers
from services.cases.store import CasesStore


async def start(deps: ServiceDeps, address: str) -> RunningService:
    assert deps.verifier is not None, "cases verifies tokens with identity's keys"
    store = CasesStore(deps.db)
    await store.ensure_indexes()
    domain = Cases(store)
    handlers = CasesHandlers(domain, deps.verifier)

    def register(server: grpc.aio.Server) -> list[str]:
        cases_pb2_grpc.add_CasesServiceServicer_to_server(handlers, server)
        return [cases_pb2.DESCRIPTOR.services_by_name["CasesService"].full_name]

    return await serve(deps, address, register, store.outbox_collections, {"domain": domain, "store": store})

"""The cases service's composition root: `build(settings)` wires store, domain, handlers and consumers
into the kit's Service (relay, guarded server)."""

from __future__ import annotations

from portalkit.config import ServiceSettings
from portalkit.service import GrpcApi, Infrastructure, Service
from protos.cases.v1 import cases_pb2, cases_pb2_grpc
from services.cases.consumers import consumers
from services.cases.domain import Cases
from services.cases.handlers import CasesHandlers
from services.cases.store import CasesStore
from services.identity.client import token_verifier


class CasesSettings(ServiceSettings):
    service = "cases"
    # The inbound email-to-case listener (design.md section 8).
    inbound_smtp_port: int = 2525


def build(settings: CasesSettings, infra: Infrastructure | None = None) -> Service:
    infra = (infra or Infrastructure()).complete(settings)
    store = CasesStore(infra.db)
    domain = Cases(store)
    api = GrpcApi.of(cases_pb2, cases_pb2_grpc, CasesHandlers(domain))
    verifier = token_verifier(settings.identity_grpc_addr)
    return Service(settings, infra, store, domain, api, verifier.verify, consumers(domain))

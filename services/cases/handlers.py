"""gRPC handlers of CasesService: authenticate, call the domain, convert."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc.aio

from portalkit.auth import TokenVerifier
from portalkit.convert import to_timestamp
from portalkit.grpc_server import require_caller
from protos.cases.v1 import cases_pb2 as pb
from protos.cases.v1 import cases_pb2_grpc as pb_grpc
from services.cases.domain import Cases

Context: TypeAlias = grpc.aio.ServicerContext


def case_message(doc: dict[str, Any]) -> pb.Case:
    return pb.Case(
        id=doc["_id"],
        account_id=doc["account_id"],
        number=str(doc.get("number", "")),
        subject=str(doc.get("subject", "")),
        status=str(doc.get("status", "")),
        created_at=to_timestamp(doc["created_at"]),
    )


class CasesHandlers(pb_grpc.CasesServiceServicer):
    def __init__(self, domain: Cases, verifier: TokenVerifier) -> None:
        self.domain = domain
        self.verifier = verifier

    async def BatchGetCases(self, request: pb.BatchGetCasesRequest, context: Context) -> pb.BatchGetCasesResponse:
        caller = await require_caller(self.verifier, context)
        docs = await self.domain.batch_get(caller, list(request.ids))
        return pb.BatchGetCasesResponse(cases=[case_message(d) for d in docs])

"""gRPC handlers of CasesService: convert, call the domain as the verified caller, convert back."""

from __future__ import annotations

from typing import Any

import grpc.aio

from portalkit.convert import to_timestamp
from portalkit.grpc_server import caller
from protos.cases.v1 import cases_pb2 as pb
from protos.cases.v1 import cases_pb2_grpc as pb_grpc
from services.cases.domain import Cases


def case_message(doc: dict[str, Any]) -> pb.Case:
    return pb.Case(
        id=doc["_id"],
        account_id=doc.get("account_id") or "",
        number=str(doc.get("number", "")),
        subject=str(doc.get("subject", "")),
        status=str(doc.get("status", "")),
        created_at=to_timestamp(doc["created_at"]),
    )


class CasesHandlers(pb_grpc.CasesServiceServicer):
    def __init__(self, cases: Cases) -> None:
        self.cases = cases

    async def BatchGetCases(
        self, request: pb.BatchGetCasesRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchGetCasesResponse:
        docs = await self.cases.get_cases(caller(), list(request.ids))
        return pb.BatchGetCasesResponse(cases=[case_message(d) for d in docs])

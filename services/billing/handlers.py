"""gRPC handlers of BillingService: authenticate, call the domain, convert."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc.aio

from portalkit.auth import TokenVerifier
from portalkit.convert import to_timestamp
from portalkit.grpc_server import require_caller
from protos.billing.v1 import billing_pb2 as pb
from protos.billing.v1 import billing_pb2_grpc as pb_grpc
from services.billing.domain import Billing

Context: TypeAlias = grpc.aio.ServicerContext


def invoice_message(doc: dict[str, Any]) -> pb.Invoice:
    return pb.Invoice(
        id=doc["_id"],
        account_id=doc["account_id"],
        number=str(doc.get("number", "")),
        total_amount=str(doc.get("total_amount", "")),
        currency=str(doc.get("currency", "")),
        created_at=to_timestamp(doc["created_at"]),
    )


class BillingHandlers(pb_grpc.BillingServiceServicer):
    def __init__(self, domain: Billing, verifier: TokenVerifier) -> None:
        self.domain = domain
        self.verifier = verifier

    async def BatchGetInvoices(
        self, request: pb.BatchGetInvoicesRequest, context: Context
    ) -> pb.BatchGetInvoicesResponse:
        caller = await require_caller(self.verifier, context)
        docs = await self.domain.batch_get(caller, list(request.ids))
        return pb.BatchGetInvoicesResponse(invoices=[invoice_message(d) for d in docs])

"""gRPC handlers of BillingService: convert, call the domain as the verified caller, convert back."""

from __future__ import annotations

from typing import Any

import grpc.aio

from portalkit.convert import to_timestamp
from portalkit.grpc_server import caller
from protos.billing.v1 import billing_pb2 as pb
from protos.billing.v1 import billing_pb2_grpc as pb_grpc
from services.billing.domain import Billing


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
    def __init__(self, billing: Billing) -> None:
        self.billing = billing

    async def BatchGetInvoices(
        self, request: pb.BatchGetInvoicesRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchGetInvoicesResponse:
        docs = await self.billing.get_invoices(caller(), list(request.ids))
        return pb.BatchGetInvoicesResponse(invoices=[invoice_message(d) for d in docs])

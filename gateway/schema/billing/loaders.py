"""Billing's DataLoaders: one batch RPC per list of keys; they hand back the service's messages."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.context import PortalContext
from gateway.schema.common import by_id
from protos.billing.v1 import billing_pb2 as pb


async def _get_invoices(ctx: PortalContext, ids: list[str]) -> Sequence[pb.Invoice]:
    stub = ctx.clients.stubs["billing"]
    return (await ctx.call("billing", stub.BatchGetInvoices, pb.BatchGetInvoicesRequest(ids=ids))).invoices


async def _get_credits(ctx: PortalContext, ids: list[str]) -> Sequence[pb.Credit]:
    stub = ctx.clients.stubs["billing"]
    return (await ctx.call("billing", stub.BatchGetCredits, pb.BatchGetRequest(ids=ids))).credits


async def _get_payments(ctx: PortalContext, ids: list[str]) -> Sequence[pb.Payment]:
    stub = ctx.clients.stubs["billing"]
    return (await ctx.call("billing", stub.BatchGetPayments, pb.BatchGetRequest(ids=ids))).payments


async def _get_usages(ctx: PortalContext, ids: list[str]) -> Sequence[pb.Usage]:
    stub = ctx.clients.stubs["billing"]
    return (await ctx.call("billing", stub.BatchGetUsages, pb.BatchGetRequest(ids=ids))).usages


async def _get_payment_methods(ctx: PortalContext, ids: list[str]) -> Sequence[pb.PaymentMethod]:
    stub = ctx.clients.stubs["billing"]
    return (await ctx.call("billing", stub.BatchGetPaymentMethods, pb.BatchGetRequest(ids=ids))).payment_methods


async def _get_summaries(ctx: PortalContext, ids: list[str]) -> Sequence[_Summary]:
    stub = ctx.clients.stubs["billing"]
    reply = await ctx.call("billing", stub.BatchGetBillingSummaries, pb.BatchGetRequest(ids=ids))
    return [_Summary(s) for s in reply.summaries]


class _Summary:
    """A summary keyed by its account id (by_id matches on `.id`)."""

    def __init__(self, message: pb.BillingSummary) -> None:
        self.id = message.account_id
        self.message = message


invoices = by_id(_get_invoices)
summaries = by_id(_get_summaries)
credits = by_id(_get_credits)
payments = by_id(_get_payments)
usages = by_id(_get_usages)
payment_methods = by_id(_get_payment_methods)

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


invoices = by_id(_get_invoices)
credits = by_id(_get_credits)
payments = by_id(_get_payments)
usages = by_id(_get_usages)
payment_methods = by_id(_get_payment_methods)

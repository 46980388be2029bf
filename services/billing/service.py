"""The billing service's composition root: `build(settings)` wires store, domain, handlers and consumers
into the kit's Service (relay, guarded server), plus billing's two background workers: the autopay
schedule and the usage-export builder (both safe with any number of instances running them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import grpc
import grpc.aio

from portalkit.config import ServiceSettings
from portalkit.grpc_client import call, open_channel
from portalkit.service import GrpcApi, Infrastructure, Service
from protos.billing.v1 import billing_pb2, billing_pb2_grpc
from protos.identity.v1 import identity_pb2, identity_pb2_grpc
from services.billing.consumers import consumers
from services.billing.domain import Billing, BillingOptions, Person
from services.billing.handlers import BillingHandlers, Directory
from services.billing.processor import SandboxProcessor
from services.billing.store import BillingStore
from services.identity.client import token_verifier

log = logging.getLogger(__name__)


class BillingSettings(ServiceSettings):
    service = "billing"
    # PORTAL_PAYMENT_METHOD_TYPES: the kinds of method the processor takes (comma-separated).
    payment_method_types: str = "CARD,BANK_ACCOUNT"
    # PORTAL_BILLING_LINK_SECRET: signs download links; set the same on every instance (random if unset).
    billing_link_secret: str = ""
    # Seconds between autopay runs and export sweeps (a new export also wakes the builder at once).
    billing_job_seconds: float = 30.0


def identity_directory(address: str, deadline: float) -> Directory:
    """The caller's address and billing preference, read fresh from identity with their own token."""
    channel: grpc.aio.Channel | None = None

    async def person(token: str) -> Person | None:
        nonlocal channel
        if not token:
            return None
        if channel is None:
            channel = open_channel(address, identity_pb2_grpc.IdentityServiceStub)
        try:
            me = await call(
                identity_pb2_grpc.IdentityServiceStub(channel).GetMe,
                identity_pb2.GetMeRequest(),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=deadline,
            )
        except grpc.RpcError:
            log.warning("identity did not answer who the caller is; no mail for this request")
            return None
        return Person(me.email, me.email_preferences.billing)

    return person


def autopay_schedule(domain: Billing, every: float) -> Callable[[], Coroutine[Any, Any, None]]:
    """Settle payments the processor left unanswered, then pay what is due today (Eastern)."""

    async def autopay() -> None:
        while True:
            try:
                await domain.settle_pending_payments()
                await domain.run_autopay()
            except Exception:
                log.exception("autopay run failed; next run retries")
            await asyncio.sleep(every)

    return autopay


def export_builder(domain: Billing, every: float) -> Callable[[], Coroutine[Any, Any, None]]:
    """Build requested usage exports; a new request wakes it at once, a sweep catches the rest."""

    async def exports() -> None:
        while True:
            domain.export_wakeup.clear()
            try:
                while await domain.build_next_export():
                    pass
            except Exception:
                log.exception("export sweep failed; next sweep retries")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(domain.export_wakeup.wait(), timeout=every)

    return exports


def build(settings: BillingSettings, infra: Infrastructure | None = None) -> Service:
    infra = (infra or Infrastructure()).complete(settings)
    store = BillingStore(infra.db)
    types = [t.strip().upper() for t in settings.payment_method_types.split(",") if t.strip()]
    options = BillingOptions(settings.public_url, settings.mail_from, settings.billing_link_secret.encode())
    domain = Billing(store, infra.clock, SandboxProcessor(types), options)
    directory = identity_directory(settings.identity_grpc_addr, settings.grpc_deadline_seconds)
    api = GrpcApi.of(billing_pb2, billing_pb2_grpc, BillingHandlers(domain, directory))
    verifier = token_verifier(settings.identity_grpc_addr)
    every = settings.billing_job_seconds
    jobs = [autopay_schedule(domain, every), export_builder(domain, every)]
    return Service(settings, infra, store, domain, api, verifier.verify, consumers(domain), jobs)

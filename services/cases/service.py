"""The cases service's composition root: `build(settings)` wires store, domain, handlers and consumers
into the kit's Service (relay, guarded server), with the knowledge index refresh as a job and the
inbound email-to-case SMTP listener as a listener (PORTAL_INBOUND_SMTP_PORT; 0 = any free port, as
the test stacks use)."""

from __future__ import annotations

import asyncio
import logging

from portalkit.config import ServiceSettings
from portalkit.service import GrpcApi, Infrastructure, Service
from protos.cases.v1 import cases_pb2, cases_pb2_grpc
from services.cases.consumers import consumers
from services.cases.directory import IdentityDirectory
from services.cases.domain import DEFAULT_TEAM_ADDRESSES, Cases
from services.cases.events import Mails
from services.cases.handlers import CasesHandlers
from services.cases.inbound import DEFAULT_MAX_BYTES, InboundListener
from services.cases.store import CasesStore
from services.identity.client import token_verifier

log = logging.getLogger(__name__)


class CasesSettings(ServiceSettings):
    service = "cases"
    # The inbound email-to-case listener (design.md section 8).
    inbound_smtp_port: int = 2525
    # The address customers mail (and reply) to: the Reply-To of every case mail.
    inbound_address: str = "support@portal.test"
    # Largest inbound mail taken (bytes, as sent: attachments count base64-encoded).
    inbound_max_bytes: int = DEFAULT_MAX_BYTES
    # How often the knowledge index looks for articles published through another replica.
    knowledge_refresh_seconds: float = 5.0
    # PORTAL_CASES_SECRET: binds ref tags and download tickets to this deployment. Set it (the same on
    # every replica); unset, a random one is made at start, and tags made before a restart stop matching.
    cases_secret: str = ""
    # Where a customer's comment is announced when the case has no assignee (one address per team).
    team_mail_domain: str = "support.test"
    # Deadline of the fresh reads of identity's users (requester address, preferences, assignees).
    directory_deadline_seconds: float = 2.0


def build(settings: CasesSettings, infra: Infrastructure | None = None) -> Service:
    infra = (infra or Infrastructure()).complete(settings)
    store = CasesStore(infra.db)
    if not settings.cases_secret:
        log.warning("PORTAL_CASES_SECRET is not set: ref tags and download links last until a restart")
    teams = {
        team: address.replace("support.test", settings.team_mail_domain)
        for team, address in DEFAULT_TEAM_ADDRESSES.items()
    }
    domain = Cases(
        store,
        infra.clock,
        IdentityDirectory(settings.identity_grpc_addr, settings.directory_deadline_seconds),
        Mails(settings.mail_from, settings.public_url, teams, settings.inbound_address),
        settings.cases_secret,
    )
    api = GrpcApi.of(cases_pb2, cases_pb2_grpc, CasesHandlers(domain))
    verifier = token_verifier(settings.identity_grpc_addr)

    async def refresh_knowledge_index() -> None:
        """Articles published through another replica reach this one's search index."""
        while True:
            await asyncio.sleep(settings.knowledge_refresh_seconds)
            try:
                await domain.refresh_index()
            except Exception:
                log.exception("knowledge index refresh failed")

    return Service(
        settings,
        infra,
        store,
        domain,
        api,
        verifier.verify,
        consumers(domain),
        jobs=[refresh_knowledge_index],
        on_start=[domain.refresh_index],  # the search index, rebuilt from the service's own articles
        listeners=[InboundListener(domain, settings.inbound_smtp_port, settings.inbound_max_bytes)],
    )

"""The inbound email-to-case listener (design.md 3, 8: PORTAL_INBOUND_SMTP_PORT): an aiosmtpd SMTP
server running in the cases service's own event loop, handing each accepted mail to the domain.

Replies the sending server acts on: 250 when the mail was taken in (a case, a comment, or
deliberately nothing: auto-submitted, bounce, duplicate), 552 when it is larger than the limit
(announced in EHLO as SIZE, refused at MAIL FROM when declared, and at DATA otherwise), 451 when
the service could not take it in right now (the sender's server tries again; nothing was kept).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from portalkit.telemetry import tracer
from services.cases.domain import Cases

log = logging.getLogger(__name__)
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


class _Handler:
    def __init__(self, cases: Cases) -> None:
        self.cases = cases

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        sender = envelope.mail_from or ""
        with tracer(__name__).start_as_current_span("smtp.receive", attributes={"messaging.system": "smtp"}):
            try:
                outcome = await self.cases.receive_mail(data, sender)
            except Exception:
                log.exception("inbound mail could not be taken in")
                return "451 4.3.0 Could not take the mail in right now; please try again later"
        if outcome.kind == "case":
            return f"250 2.0.0 Case {outcome.case_number} opened"
        if outcome.kind == "comment":
            return f"250 2.0.0 Added to case {outcome.case_number}"
        return f"250 2.0.0 Accepted ({outcome.kind})"


class InboundListener:
    """The email-to-case SMTP server: the cases service's listener (see portalkit.service.Listener)."""

    name = "inbound"
    variable = "PORTAL_INBOUND_SMTP_PORT"

    def __init__(self, cases: Cases, port: int, max_bytes: int = DEFAULT_MAX_BYTES, hostname: str = "portal") -> None:
        self._handler = _Handler(cases)
        self._max_bytes = max_bytes
        self._hostname = hostname
        self._server: asyncio.base_events.Server | None = None
        self.port = port

    def _protocol(self) -> Any:
        return SMTP(
            self._handler,
            data_size_limit=self._max_bytes,
            enable_SMTPUTF8=True,
            hostname=self._hostname,
            timeout=60,
        )

    async def start(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host=host, port=self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("inbound SMTP listening", extra={"port": self.port})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

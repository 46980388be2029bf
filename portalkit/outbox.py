"""Transactional outbox on single-document atomicity (design.md section 6).

A write that others must hear about appends entries to the `_outbox` array of the very document it
changes, in the same update. The relay then delivers each entry (an event to the bus, or a mail to
the mailer) and removes it with `$pull`. If the broker is down the entries wait in the document and
go out, in order per document, once it is back. Delivery is at least once; consumers dedupe by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from email.message import EmailMessage
from typing import Any

from portalkit.events import Envelope, EventBus, new_envelope
from portalkit.mail import Mailer, message_from_outbox, message_to_outbox
from portalkit.mongo import TracedCollection
from portalkit.telemetry import continued_trace, current_traceparent, tracer

OUTBOX_FIELD = "_outbox"
SWEEP_BATCH = 200
log = logging.getLogger(__name__)


def event_entry(
    source: str, event_type: str, subject: str, data: dict[str, Any], account_id: str = ""
) -> dict[str, Any]:
    envelope = new_envelope(source, event_type, subject, data, account_id)
    return {
        "id": envelope["id"],
        "kind": "event",
        "envelope": envelope,
        "traceparent": envelope["traceparent"],
    }


def mail_entry(message: EmailMessage) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "kind": "mail",
        "mail": message_to_outbox(message),
        "traceparent": current_traceparent(),
    }


def push_entries(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The `$push` clause that appends entries to a document's outbox."""
    return {OUTBOX_FIELD: {"$each": entries}}


class OutboxRelay:
    """Delivers the outbox entries of the given collections; `wake()` after a write for low latency."""

    def __init__(
        self,
        collections: list[TracedCollection],
        bus: EventBus,
        mailer: Mailer,
        poll_seconds: float = 1.0,
    ) -> None:
        self._collections = collections
        self._bus = bus
        self._mailer = mailer
        self._poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published: list[Envelope] = []  # recent envelopes, kept short; for diagnostics

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # one last sweep so that entries written just before shutdown are not left waiting
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), timeout=3)

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                pending = await self.drain()
            except Exception:
                log.exception("outbox sweep failed")
                pending = True
            timeout = self._poll_seconds if pending else max(self._poll_seconds, 5.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=timeout)

    async def drain(self) -> bool:
        """One sweep. Returns True when some entry could not be delivered and is still waiting."""
        still_pending = False
        for collection in self._collections:
            docs = await collection.find_many(
                {f"{OUTBOX_FIELD}.0": {"$exists": True}}, projection={OUTBOX_FIELD: 1}, limit=SWEEP_BATCH
            )
            if len(docs) == SWEEP_BATCH:
                still_pending = True  # more are waiting: sweep again soon
            for doc in docs:
                for entry in doc[OUTBOX_FIELD]:
                    if not await self._deliver(entry):
                        still_pending = True
                        break  # keep per-document order: later entries wait for this one
                    await collection.update_one({"_id": doc["_id"]}, {"$pull": {OUTBOX_FIELD: {"id": entry["id"]}}})
        return still_pending

    async def _deliver(self, entry: dict[str, Any]) -> bool:
        with continued_trace(entry.get("traceparent", "")):
            try:
                if entry["kind"] == "event":
                    with tracer(__name__).start_as_current_span("outbox relay"):
                        await self._bus.publish(entry["envelope"])
                    self.published = [*self.published[-99:], entry["envelope"]]
                else:
                    await self._mailer.send(message_from_outbox(entry["mail"]))
            except Exception as exc:
                log.warning("outbox delivery failed; will retry", extra={"entry": entry["id"], "error": repr(exc)})
                return False
        return True

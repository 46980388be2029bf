"""Transactional outbox on single-document atomicity (design.md section 6), and the one write
primitive every service uses.

`AggregateCollection.insert/change` change one document and append its events and mails to that
document's `_outbox` array in the same single-document write, then wake the relay. The relay
delivers each entry (an event to the bus, a mail to the mailer) and removes it with `$pull`. If the
broker is down the entries wait in the document and go out, in order per document, once it is back.
Delivery is at least once; consumers deduplicate by event id (`event_id=` below: the id is recorded
in the same write, and a write already done for that event matches nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import Any

from portalkit.catalog import Event
from portalkit.events import Envelope, EventBus, new_envelope
from portalkit.mail import Mailer, message_from_outbox, message_to_outbox
from portalkit.mongo import Document, TracedCollection
from portalkit.telemetry import continued_trace, current_traceparent, tracer

OUTBOX_FIELD = "_outbox"
APPLIED_EVENTS_FIELD = "applied_events"
APPLIED_EVENTS_KEPT = 200
SWEEP_BATCH = 200
log = logging.getLogger(__name__)

Entry = dict[str, Any]


def event_entry(event: Event) -> Entry:
    envelope = new_envelope(event)
    return {"id": envelope["id"], "kind": "event", "envelope": envelope, "traceparent": envelope["traceparent"]}


def mail_entry(message: EmailMessage) -> Entry:
    return {
        "id": str(uuid.uuid4()),
        "kind": "mail",
        "mail": message_to_outbox(message),
        "traceparent": current_traceparent(),
    }


def entries_of(changes: Sequence[Event | EmailMessage | Entry]) -> list[Entry]:
    """Events and mails as outbox entries (entries pass through)."""
    out: list[Entry] = []
    for item in changes:
        if isinstance(item, Event):
            out.append(event_entry(item))
        elif isinstance(item, EmailMessage):
            out.append(mail_entry(item))
        else:
            out.append(item)
    return out


Outgoing = Sequence[Event | EmailMessage | Entry]


class AggregateCollection(TracedCollection):
    """A collection whose documents carry their own outbox: the only way services write a change
    that others must hear about."""

    def __init__(self, db: Any, name: str) -> None:
        super().__init__(db, name)
        self.on_write: Callable[[], None] = lambda: None  # the relay's wake-up, set by the relay

    async def insert(self, document: Document, outgoing: Outgoing = (), *, event_id: str = "") -> None:
        """Insert `document` with its outbox (and, for a consumer, the event it applies)."""
        entries = entries_of(outgoing)
        document = {**document, OUTBOX_FIELD: entries}
        if event_id:
            document[APPLIED_EVENTS_FIELD] = [event_id]
        await self.insert_one(document)
        if entries:
            self.on_write()

    async def change(
        self,
        match: dict[str, Any],
        update: dict[str, Any],
        outgoing: Outgoing = (),
        *,
        event_id: str = "",
    ) -> Document | None:
        """Apply the Mongo `update` to the one document matching `match`, appending `outgoing` to
        its outbox in the same write. With `event_id`, only if that event was not applied before.
        Returns the document after the write, or None when nothing matched."""
        entries = entries_of(outgoing)
        update = {op: dict(fields) for op, fields in update.items()}
        push = update.setdefault("$push", {})
        if entries:
            push[OUTBOX_FIELD] = {"$each": entries}
        if event_id:
            match = {**match, APPLIED_EVENTS_FIELD: {"$ne": event_id}}
            push[APPLIED_EVENTS_FIELD] = {"$each": [event_id], "$slice": -APPLIED_EVENTS_KEPT}
        if not push:
            del update["$push"]
        if not update:
            return await self.find_one(match)
        saved = await self.find_one_and_update(match, update)
        if saved is not None and entries:
            self.on_write()
        return saved


class OutboxRelay:
    """Delivers the outbox entries of the given collections. Writes wake it; it also sweeps every
    `poll_seconds` (entries left by a crash or by a broker outage)."""

    def __init__(
        self,
        collections: Sequence[AggregateCollection],
        bus: EventBus,
        mailer: Mailer,
        poll_seconds: float = 1.0,
    ) -> None:
        self._collections = list(collections)
        self._bus = bus
        self._mailer = mailer
        self._poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        for collection in self._collections:
            collection.on_write = self.wake
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

    async def _deliver(self, entry: Entry) -> bool:
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

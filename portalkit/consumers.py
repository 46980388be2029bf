"""Consuming events: one table per service of {event class: handler}, one queue per purpose.

Each consumer parses and validates the envelope's data against the contract class at the edge. A
payload that does not fit, or a change the domain refuses (a DomainError), is dead-lettered at once
with its reason; any other failure is retried with backoff by the bus. Deduplication is the
handler's own write: it passes `event_id=received.id` to the write primitive (outbox.py), so a
redelivered event matches nothing and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from portalkit.catalog import Event
from portalkit.errors import DomainError
from portalkit.events import Envelope, EventBus, PoisonMessage, routing_key_of

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Received(Generic[E]):
    """An event as a handler sees it: its id (for deduplication) and its validated data."""

    id: str
    data: E
    time: str = ""


Handler = Callable[[Received[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    """A durable queue `<service>.<purpose>` and the events it handles."""

    queue: str
    handlers: Mapping[type[Event], Handler]

    @property
    def routing_keys(self) -> list[str]:
        return [kind.routing_key for kind in self.handlers]

    async def handle(self, envelope: Envelope) -> None:
        key = routing_key_of(envelope)
        kind = next((k for k in self.handlers if k.routing_key == key), None)
        if kind is None:
            raise PoisonMessage(f"{self.queue} does not handle {key!r}")
        try:
            data = kind.model_validate(envelope.get("data"))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            raise PoisonMessage(f"{key} data does not match the contract: {problems}") from exc
        try:
            await self.handlers[kind](Received(str(envelope["id"]), data, str(envelope.get("time", ""))))
        except DomainError as exc:
            raise PoisonMessage(f"{key} refused: {exc.message}") from exc


async def subscribe_all(bus: EventBus, consumers: Sequence[Consumer]) -> None:
    for consumer in consumers:
        await bus.subscribe(consumer.queue, consumer.routing_keys, consumer.handle)

"""Live updates for GraphQL subscriptions: this gateway instance's own exclusive queue on the event
exchange, fanned out in memory to the subscriptions that listen for a routing-key pattern."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from portalkit.events import Envelope, EventBus, topic_matches

LIVE_ROUTING_KEYS = ["announcement.published", "case.*"]
MAX_BACKLOG = 100


class LiveEvents:
    def __init__(self) -> None:
        self._listeners: dict[asyncio.Queue[Envelope], str] = {}

    async def start(self, bus: EventBus) -> None:
        await bus.subscribe(f"gateway.live.{uuid.uuid4().hex[:12]}", LIVE_ROUTING_KEYS, self.dispatch, exclusive=True)

    async def dispatch(self, event: Envelope) -> None:
        key = str(event["type"]).removeprefix("portal.").rsplit(".v", 1)[0]
        for queue, pattern in list(self._listeners.items()):
            if topic_matches(pattern, key) and queue.qsize() < MAX_BACKLOG:  # a slow client drops, not the gateway
                queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def listen(self, pattern: str) -> AsyncIterator[AsyncIterator[Envelope]]:
        queue: asyncio.Queue[Envelope] = asyncio.Queue()
        self._listeners[queue] = pattern

        async def events() -> AsyncIterator[Envelope]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            self._listeners.pop(queue, None)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

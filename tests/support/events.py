"""A partner's view of the event stream: a queue of our own on `portal.events`, straight to RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika

from portalkit.events import EXCHANGE


class EventTap:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def wait_for(
        self, event_type: str, where: Callable[[dict[str, Any]], bool] = lambda e: True, timeout: float = 10
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for event in self.events:
                if event["type"] == f"portal.{event_type}.v1" and where(event):
                    return event
            if asyncio.get_running_loop().time() > deadline:
                seen = [e["type"] for e in self.events]
                raise AssertionError(f"no {event_type} event arrived; saw {seen}")
            await asyncio.sleep(0.05)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == f"portal.{event_type}.v1"]


@contextlib.asynccontextmanager
async def tap(amqp_url: str, routing_keys: list[str]) -> AsyncIterator[EventTap]:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"test.tap.{uuid.uuid4().hex[:8]}", exclusive=True, auto_delete=True)
        for key in routing_keys:
            await queue.bind(exchange, key)
        result = EventTap()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                result.messages.append(message)
                result.events.append(json.loads(message.body))

        await queue.consume(on_message)
        yield result
    finally:
        await connection.close()

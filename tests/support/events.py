"""A partner's view of the event stream: a queue of our own on `portal.events`, straight to RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika

from portalkit.events import DEAD_LETTER_QUEUE, EXCHANGE
from portalkit.queues import dead_letter_queue_arguments


class EventTap:
    def __init__(self, exchange: aio_pika.abc.AbstractExchange | None = None, marker_key: str = "") -> None:
        self.events: list[dict[str, Any]] = []
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []
        self._exchange = exchange
        self._marker_key = marker_key
        self._markers: set[str] = set()

    async def settle(self, timeout: float = 10) -> None:
        """Return once every message routed to this tap before the call has been received: a
        marker is sent through the same queue, and a queue delivers in order. To assert that an
        event was *not* published, first wait until the producer's outbox is empty (its relay
        waits for the broker's confirm before it removes an entry), then settle."""
        assert self._exchange is not None, "settle() needs a tap made by tap()"
        marker = uuid.uuid4().hex
        await self._exchange.publish(aio_pika.Message(body=marker.encode()), routing_key=self._marker_key)
        deadline = asyncio.get_running_loop().time() + timeout
        while marker not in self._markers:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the tap's marker did not come back")
            await asyncio.sleep(0.02)

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
        name = f"test.tap.{uuid.uuid4().hex[:8]}"
        queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
        marker_key = f"test.marker.{name}"  # no event type starts with "test", so no consumer gets it
        for key in [*routing_keys, marker_key]:
            await queue.bind(exchange, key)
        result = EventTap(exchange, marker_key)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                if (message.routing_key or "").startswith("test.marker."):  # any tap's, e.g. under "#"
                    result._markers.add(message.body.decode())
                    return
                result.messages.append(message)
                result.events.append(json.loads(message.body))

        await queue.consume(on_message)
        yield result
    finally:
        await connection.close()


async def dead_lettered(amqp_url: str, message_id: str, timeout: float = 15) -> aio_pika.abc.AbstractIncomingMessage:
    """Take the message `message_id` out of the dead-letter queue once it is there. Others' dead
    letters are held unacknowledged while looking (a requeued message would come straight back to
    the head of the queue and hide everything behind it) and returned to the queue afterwards."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(DEAD_LETTER_QUEUE, durable=True, arguments=dead_letter_queue_arguments())
        others: list[aio_pika.abc.AbstractIncomingMessage] = []
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            while asyncio.get_running_loop().time() < deadline:
                message = await queue.get(fail=False, no_ack=False)
                if message is None:
                    await asyncio.sleep(0.1)
                elif message.message_id == message_id:
                    await message.ack()
                    return message
                else:
                    others.append(message)
        finally:
            for other in others:
                await other.reject(requeue=True)
    raise AssertionError(
        f"{message_id} did not reach {DEAD_LETTER_QUEUE}; others there: {[o.message_id for o in others]}"
    )

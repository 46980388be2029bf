"""The durable queues of the event bus: quorum queues (replicated on a RabbitMQ cluster, with a
delivery limit so a message that crashes its consumer again and again ends in the dead-letter
queue instead of looping), and the move of a classic queue of the same name onto one.

Declaring a quorum queue where a classic one of that name exists fails (PRECONDITION_FAILED), and
brokers that ran an earlier version hold classic queues with messages in them. `declare_durable`
then migrates: under a lock queue (one replica migrates, the others wait), new messages are routed to
a holding quorum queue while the classic one is drained into it and deleted, the quorum queue is
declared under the real name, and the held messages move back. Every move is publish-confirmed
before the original is acknowledged, so nothing is lost; an interrupted migration is finished by the
next start (the holding queue is drained whenever it exists).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractQueue, AbstractRobustConnection
from aiormq.exceptions import ChannelLockedResource, ChannelNotFoundEntity, ChannelPreconditionFailed

log = logging.getLogger(__name__)

DEAD_LETTER_QUEUE = "portal.events.dlq"
DELIVERY_LIMIT = 20  # redeliveries of an unacknowledged message before it is dead-lettered
UNBIND_SETTLE_SECONDS = 0.5
_QUORUM = {"x-queue-type": "quorum"}


def _dead_letters_to(queue: str) -> dict[str, Any]:
    # at-least-once dead-lettering (RabbitMQ >= 3.10) needs reject-publish overflow
    return {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def consumer_queue_arguments() -> dict[str, Any]:
    """A consumer's queue `<service>.<purpose>`: past the delivery limit, to the dead-letter queue."""
    return {**_QUORUM, "x-delivery-limit": DELIVERY_LIMIT, **_dead_letters_to(DEAD_LETTER_QUEUE)}


def retry_queue_arguments(queue: str) -> dict[str, Any]:
    """`<queue>.retry`: a message waits out its per-message TTL (the backoff), then returns to `queue`."""
    return {**_QUORUM, **_dead_letters_to(queue)}


def dead_letter_queue_arguments() -> dict[str, Any]:
    return dict(_QUORUM)


async def declare_durable(
    connection: AbstractRobustConnection,
    channel: AbstractChannel,
    name: str,
    arguments: dict[str, Any],
    bindings: Sequence[tuple[str, str]] = (),
) -> AbstractQueue:
    """Declare the quorum queue `name` with its bindings ((exchange, routing key)) on `channel`,
    migrating a classic queue of that name first."""
    probe = await connection.channel()  # a refused declare closes its channel: not the caller's
    try:
        await probe.declare_queue(name, durable=True, arguments=arguments)
    except ChannelPreconditionFailed:
        await _migrate(connection, name, arguments, bindings)
    finally:
        if not probe.is_closed:
            await probe.close()
    queue = await channel.declare_queue(name, durable=True, arguments=arguments)
    for exchange, key in bindings:
        await queue.bind(exchange, routing_key=key)
    await _finish_interrupted(connection, name, bindings)
    return queue


async def _migrate(
    connection: AbstractRobustConnection, name: str, arguments: dict[str, Any], bindings: Sequence[tuple[str, str]]
) -> None:
    lock = await _locked(connection, name)
    try:
        # 1. new messages wait in the holding queue while the classic one is drained into it
        channel = await connection.channel(publisher_confirms=True)
        try:
            holding = await channel.declare_queue(f"{name}.migrating", durable=True, arguments=arguments)
            for exchange, key in bindings:
                await holding.bind(exchange, routing_key=key)
            try:
                classic = await channel.declare_queue(name, passive=True)
            except ChannelNotFoundEntity:  # another replica finished while we waited for the lock
                return
            for exchange, key in bindings:
                await classic.unbind(exchange, routing_key=key)
            moved = await _move(channel, classic, holding.name)
            await classic.delete(if_unused=False, if_empty=True)
        finally:
            if not channel.is_closed:
                await channel.close()
        # 2. the quorum queue under the real name, on a fresh channel (a channel remembers the
        # type of a queue it has used), then the held messages back into it
        channel = await connection.channel(publisher_confirms=True)
        try:
            quorum = await channel.declare_queue(name, durable=True, arguments=arguments)
            holding = await channel.declare_queue(f"{name}.migrating", passive=True)
            for exchange, key in bindings:
                await quorum.bind(exchange, routing_key=key)
                await holding.unbind(exchange, routing_key=key)
            await _empty_and_delete(channel, holding, name)
        finally:
            if not channel.is_closed:
                await channel.close()
        log.info("queue moved onto a quorum queue", extra={"queue": name, "messages": moved})
    finally:
        await lock.queue_delete(f"{name}.migration-lock")
        await lock.close()


async def _locked(connection: AbstractRobustConnection, name: str) -> AbstractChannel:
    """A channel holding the migration lock of `name`: an exclusive queue, which another connection
    cannot declare while it exists (it goes with this connection if the process dies)."""
    while True:
        channel = await connection.channel()
        try:
            await channel.declare_queue(f"{name}.migration-lock", exclusive=True, auto_delete=True)
            return channel
        except ChannelLockedResource:  # another replica migrates this queue: wait for it
            await asyncio.sleep(0.5)


async def _finish_interrupted(
    connection: AbstractRobustConnection, name: str, bindings: Sequence[tuple[str, str]]
) -> None:
    """Drain a holding queue an interrupted migration left behind into `name`."""
    channel = await connection.channel(publisher_confirms=True)
    try:
        holding = await channel.declare_queue(f"{name}.migrating", passive=True)
    except ChannelNotFoundEntity:
        return
    try:
        for exchange, key in bindings:
            await holding.unbind(exchange, routing_key=key)
        await _empty_and_delete(channel, holding, name)
    finally:
        if not channel.is_closed:
            await channel.close()


async def _empty_and_delete(channel: AbstractChannel, holding: AbstractQueue, target: str) -> None:
    """Move an unbound holding queue's messages into `target` and delete it. Quorum queues have no
    delete-if-empty (and their declare-ok count lags), so: a pause for messages routed just before
    the unbind to land, then a drain until basic.get finds nothing."""
    await asyncio.sleep(UNBIND_SETTLE_SECONDS)
    await _move(channel, holding, target)
    await holding.delete(if_unused=False, if_empty=False)


async def _move(channel: AbstractChannel, source: AbstractQueue, target: str) -> int:
    """Every message of `source` into the queue `target`: confirmed there, then acknowledged here."""
    moved = 0
    while (message := await source.get(no_ack=False, fail=False)) is not None:
        # x-delivery-count is the quorum queue's own count: never carried over (3.10's channel
        # crashes on a published one)
        headers = {k: v for k, v in (message.headers or {}).items() if k != "x-delivery-count"}
        properties: dict[str, Any] = {
            "content_type": message.content_type,
            "message_id": message.message_id,
            "type": message.type,
            "timestamp": message.timestamp,
            "expiration": message.expiration,
        }
        copy = aio_pika.Message(
            message.body,
            headers=headers,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            **{name: value for name, value in properties.items() if value is not None},
        )
        await channel.default_exchange.publish(copy, routing_key=target)
        await message.ack()
        moved += 1
    return moved

"""The bus's durable queues are quorum queues (design.md §8): consumer queues, their retry queues and
the dead-letter queue; live (per-gateway) queues stay classic and exclusive. A broker that holds the
classic queues of an earlier version has them moved onto quorum queues at start, messages and
bindings included. Retries still travel through the (quorum) retry queue's per-message TTL, and a
message redelivered past the delivery limit ends in the dead-letter queue. Each test has a fresh
virtual host."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aio_pika
import pytest

from portalkit.events import DEAD_LETTER_QUEUE, EXCHANGE, RabbitBus, RetryPolicy
from portalkit.queues import DELIVERY_LIMIT, consumer_queue_arguments, declare_durable

RABBITMQCTL = shutil.which("rabbitmqctl")
pytestmark = pytest.mark.skipif(RABBITMQCTL is None, reason="needs rabbitmqctl to make a virtual host")


def _ctl(*args: str) -> str:
    assert RABBITMQCTL is not None
    done = subprocess.run([RABBITMQCTL, "-q", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def url() -> Iterator[str]:
    vhost = f"portal-quorum-{uuid.uuid4().hex[:8]}"
    _ctl("add_vhost", vhost)
    _ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    _ctl("delete_vhost", vhost)


def _queues(url: str) -> dict[str, str]:
    """name → type in the URL's virtual host (the message counts of quorum queues lag: not read)."""
    lines = _ctl("list_queues", "-p", url.rsplit("/", 1)[1], "name", "type").splitlines()[1:]
    return dict(line.split("\t") for line in lines)


async def _drain(channel: aio_pika.abc.AbstractChannel, name: str) -> list[bytes]:
    queue = await channel.declare_queue(name, passive=True)
    bodies = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        bodies.append(message.body)
    return bodies


def _envelope(kind: str = "test.happened") -> bytes:
    return json.dumps(
        {"specversion": "1.0", "id": str(uuid.uuid4()), "type": f"portal.{kind}.v1", "source": "/t", "data": {}}
    ).encode()


@pytest.fixture
async def raw(url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    yield channel
    await connection.close()


async def _collect(into: list[Any], count: int) -> None:
    for _ in range(200):
        if len(into) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(into)} of {count} messages arrived")


async def test_durable_queues_are_quorum_and_live_queues_classic(url):
    bus = RabbitBus(url)

    async def handler(envelope: dict[str, Any]) -> None:
        pass

    try:
        await bus.subscribe("svc.purpose", ["test.happened"], handler)
        await bus.subscribe("gateway.live.t", ["test.happened"], handler, exclusive=True)
        queues = _queues(url)
    finally:
        await bus.close()
    assert queues["svc.purpose"] == queues["svc.purpose.retry"] == queues[DEAD_LETTER_QUEUE] == "quorum"
    assert queues["gateway.live.t"] == "classic"


async def test_classic_queues_move_onto_quorum_queues_without_losing_a_message(url, raw):
    exchange = await raw.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    classic = await raw.declare_queue("svc.purpose", durable=True)
    await classic.bind(exchange, routing_key="test.happened")
    await raw.declare_queue(
        "svc.purpose.retry",
        durable=True,
        arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "svc.purpose"},
    )
    await raw.declare_queue(DEAD_LETTER_QUEUE, durable=True)
    waiting = [_envelope() for _ in range(5)]
    for body in waiting:  # what the earlier version left unconsumed
        await exchange.publish(aio_pika.Message(body, delivery_mode=2), routing_key="test.happened")
    dead = _envelope()
    await raw.default_exchange.publish(aio_pika.Message(dead, delivery_mode=2), routing_key=DEAD_LETTER_QUEUE)

    received: list[str] = []

    async def handler(envelope: dict[str, Any]) -> None:
        received.append(envelope["id"])

    bus = RabbitBus(url)
    try:
        await bus.subscribe("svc.purpose", ["test.happened"], handler)
        later = _envelope()
        await exchange.publish(aio_pika.Message(later, delivery_mode=2), routing_key="test.happened")
        await _collect(received, 6)
        queues = _queues(url)
    finally:
        await bus.close()
    assert sorted(received) == sorted(json.loads(b)["id"] for b in [*waiting, later])
    assert queues["svc.purpose"] == queues["svc.purpose.retry"] == queues[DEAD_LETTER_QUEUE] == "quorum"
    assert not [name for name in queues if name.endswith((".migrating", ".migration-lock"))]
    assert await _drain(raw, DEAD_LETTER_QUEUE) == [dead]  # its message moved with it


async def test_a_failed_message_comes_back_through_the_quorum_retry_queue(url):
    attempts: list[str] = []

    async def flaky(envelope: dict[str, Any]) -> None:
        attempts.append(envelope["id"])
        if len(attempts) == 1:
            raise RuntimeError("first try fails")

    bus = RabbitBus(url, retry=RetryPolicy(max_attempts=3, first_delay_seconds=0.2))
    try:
        await bus.subscribe("svc.purpose", ["test.happened"], flaky)
        envelope = json.loads(_envelope())
        await bus.publish(envelope)
        await _collect(attempts, 2)
    finally:
        await bus.close()
    assert attempts == [envelope["id"], envelope["id"]]


async def test_a_message_redelivered_past_the_limit_is_dead_lettered(url, raw):
    connection = await aio_pika.connect_robust(url)
    try:
        channel = await connection.channel()
        queue = await declare_durable(connection, channel, "svc.crashy", consumer_queue_arguments())
        await raw.declare_queue(DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        body = _envelope()
        await raw.default_exchange.publish(aio_pika.Message(body, delivery_mode=2), routing_key="svc.crashy")
        deliveries = 0
        # a consumer that dies before acknowledging, again and again
        while (message := await queue.get(no_ack=False, fail=False, timeout=5)) is not None:
            deliveries += 1
            await message.nack(requeue=True)
            assert deliveries <= DELIVERY_LIMIT + 1
        dead = await raw.declare_queue(DEAD_LETTER_QUEUE, passive=True)
        for _ in range(50):
            if (found := await dead.get(no_ack=True, fail=False)) is not None:
                break
            await asyncio.sleep(0.1)
        assert found is not None and found.body == body
        assert deliveries == DELIVERY_LIMIT + 1
    finally:
        await connection.close()

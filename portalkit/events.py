"""Events: the CloudEvents envelope, the RabbitMQ bus (and its in-process stand-in), consumers with
retry, backoff and dead-lettering. See contract/events.md for the wire format.

Producers never publish directly: they store an outbox entry with their state change (see
`outbox.py`), and the relay publishes it here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from portalkit.catalog import Event
from portalkit.queues import (
    DEAD_LETTER_QUEUE,
    consumer_queue_arguments,
    dead_letter_queue_arguments,
    declare_durable,
    retry_queue_arguments,
)
from portalkit.telemetry import component, continued_trace, current_component, current_traceparent, tracer

_meter = metrics.get_meter("portalkit.events")
_process_duration = _meter.create_histogram(
    "messaging.process.duration", unit="ms", description="events handled per queue, by outcome"
)
_message_age = _meter.create_histogram(
    "messaging.message.age", unit="s", description="time from an event's creation to its handling"
)
# Last polled depth of each consumer queue (AMQP passive declare), read by an observable gauge.
_queue_depths: dict[str, int] = {}
DEPTH_POLL_SECONDS = 15.0


def _observe_depths(options: CallbackOptions) -> Iterable[Observation]:
    return [Observation(depth, {"messaging.destination.name": queue}) for queue, depth in list(_queue_depths.items())]


_meter.create_observable_gauge("messaging.queue.depth", [_observe_depths], description="messages waiting")

EXCHANGE = "portal.events"
CONTENT_TYPE = "application/cloudevents+json"
log = logging.getLogger(__name__)

Envelope = dict[str, Any]
Handler = Callable[[Envelope], Awaitable[None]]


class PoisonMessage(Exception):
    """A message that can never be processed (not an envelope, a payload outside the contract, a
    change the domain refuses): dead-lettered at once with its reason, without retries."""


def iso_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_envelope(event: Event) -> Envelope:
    """The CloudEvents 1.0 envelope of `event`, carrying the current trace."""
    envelope: Envelope = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"/portal/{event.source}",
        "type": f"portal.{event.routing_key}.v1",
        "subject": event.aggregate,
        "time": iso_time(datetime.now(UTC)),
        "datacontenttype": "application/json",
        "traceparent": current_traceparent(),
        "data": event.wire(),
    }
    if event.tenant:
        envelope["accountid"] = event.tenant
    return envelope


def routing_key_of(envelope: Envelope) -> str:
    """`portal.invitation.sent.v1` -> `invitation.sent`."""
    return str(envelope["type"]).removeprefix("portal.").rsplit(".v", 1)[0]


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic semantics: `*` is one word, `#` zero or more."""
    parts = []
    for word in pattern.split("."):
        parts.append(r"[^.]+" if word == "*" else r".*" if word == "#" else re.escape(word))
    regex = r"\.".join(parts).replace(r".*\.", r"(?:.*\.)?").replace(r"\..*", r"(?:\..*)?")
    return re.fullmatch(regex, routing_key) is not None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    first_delay_seconds: float = 0.5
    factor: float = 4.0

    def delay(self, attempt: int) -> float:
        return self.first_delay_seconds * self.factor ** (attempt - 1)


class EventBus(Protocol):
    async def publish(self, envelope: Envelope) -> None:
        """Publish and wait for the broker's confirm; raises when it cannot be confirmed."""

    async def subscribe(
        self, queue: str, routing_keys: list[str], handler: Handler, *, exclusive: bool = False
    ) -> None: ...

    async def close(self) -> None: ...


def _decode(body: bytes) -> Envelope:
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise PoisonMessage("body is not JSON") from exc
    if not isinstance(envelope, dict) or not {"id", "type", "data"} <= envelope.keys():
        raise PoisonMessage("body is not a CloudEvents envelope")
    return envelope


class RabbitBus:
    """aio-pika on the durable topic exchange `portal.events`, with publisher confirms.

    Each consumer gets a durable queue `<service>.<purpose>`, a retry queue `<queue>.retry` whose
    messages return to the queue when their per-message TTL (the backoff) expires, and the shared
    dead-letter queue: quorum queues (see queues.py). A message is acknowledged only after its handler finished, or after its copy
    was confirmed into the retry or dead-letter queue: nothing is dropped.
    """

    def __init__(self, url: str, retry: RetryPolicy | None = None, publish_timeout: float = 5.0) -> None:
        self._url = url
        self._retry = retry or RetryPolicy()
        self._publish_timeout = publish_timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractRobustChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._lock = asyncio.Lock()
        self._pollers: list[asyncio.Task[None]] = []

    async def connect(self, timeout: float = 10.0) -> None:
        async with self._lock:
            if self._connection is None:
                connection = await asyncio.wait_for(
                    aio_pika.connect_robust(self._url, reconnect_interval=1.0, fail_fast="true"),
                    timeout=timeout,
                )
                channel = await connection.channel(publisher_confirms=True)
                self._exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
                await declare_durable(connection, channel, DEAD_LETTER_QUEUE, dead_letter_queue_arguments())
                self._connection, self._channel = connection, channel

    async def publish(self, envelope: Envelope) -> None:
        if self._exchange is None:
            await self.connect(timeout=self._publish_timeout)
        assert self._exchange is not None
        await asyncio.wait_for(
            self._exchange.publish(_message(envelope), routing_key=routing_key_of(envelope)),
            timeout=self._publish_timeout,
        )

    async def subscribe(
        self, queue: str, routing_keys: list[str], handler: Handler, *, exclusive: bool = False
    ) -> None:
        await self.connect()
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=20)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        retry_queue = f"{queue}.retry"
        main: aio_pika.abc.AbstractQueue
        if exclusive:
            # A live (per-process) queue: classic (a quorum queue cannot be exclusive); its retry
            # queue never has a consumer, so auto-delete alone never fires: it is exclusive too,
            # gone when this connection closes (or its process dies).
            main = await channel.declare_queue(queue, exclusive=True, auto_delete=True)
            for key in routing_keys:
                await main.bind(exchange, routing_key=key)
            await channel.declare_queue(
                retry_queue,
                exclusive=True,
                auto_delete=True,
                arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue},
            )
        else:
            bindings = [(EXCHANGE, key) for key in routing_keys]
            main = await declare_durable(self._connection, channel, queue, consumer_queue_arguments(), bindings)
            await declare_durable(self._connection, channel, retry_queue, retry_queue_arguments(queue))
        default = channel.default_exchange

        async def on_message(message: AbstractIncomingMessage) -> None:
            attempt = int((message.headers or {}).get("x-attempt", 1))  # type: ignore[arg-type]
            started = time.perf_counter()
            outcome = "ok"
            try:
                envelope = _decode(message.body)
                _record_age(envelope, queue)
                await handler(envelope)
            except PoisonMessage as exc:
                outcome = "dead_lettered"
                await _forward(default, message, DEAD_LETTER_QUEUE, queue, attempt, str(exc))
            except Exception as exc:
                log.warning("event handler failed", extra={"queue": queue, "attempt": attempt}, exc_info=True)
                if attempt >= self._retry.max_attempts:
                    outcome = "dead_lettered"
                    await _forward(default, message, DEAD_LETTER_QUEUE, queue, attempt, repr(exc))
                else:
                    outcome = "retried"
                    expiration = self._retry.delay(attempt)
                    await _forward(default, message, retry_queue, queue, attempt + 1, repr(exc), expiration)
            await message.ack()
            _process_duration.record(
                (time.perf_counter() - started) * 1000, {"messaging.destination.name": queue, "outcome": outcome}
            )

        await main.consume(on_message)
        if not exclusive:
            self._pollers.append(asyncio.create_task(self._poll_depth(channel, queue)))

    async def _poll_depth(self, channel: aio_pika.abc.AbstractChannel, queue: str) -> None:
        while True:
            with contextlib.suppress(Exception):
                declared = await channel.declare_queue(queue, passive=True)
                _queue_depths[queue] = int(declared.declaration_result.message_count or 0)
            await asyncio.sleep(DEPTH_POLL_SECONDS)

    async def close(self) -> None:
        for poller in self._pollers:
            poller.cancel()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
            self._exchange = None


def _record_age(envelope: Envelope, queue: str) -> None:
    with contextlib.suppress(KeyError, ValueError, TypeError):
        created = datetime.fromisoformat(str(envelope["time"]).replace("Z", "+00:00"))
        _message_age.record((datetime.now(UTC) - created).total_seconds(), {"messaging.destination.name": queue})


def _message(envelope: Envelope) -> aio_pika.Message:
    return aio_pika.Message(
        body=json.dumps(envelope, separators=(",", ":")).encode(),
        message_id=envelope["id"],
        type=envelope["type"],
        content_type=CONTENT_TYPE,
        timestamp=datetime.now(UTC),
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers={"traceparent": envelope.get("traceparent", "")},
    )


async def _forward(
    exchange: aio_pika.abc.AbstractExchange,
    message: AbstractIncomingMessage,
    target_queue: str,
    origin_queue: str,
    attempt: int,
    reason: str,
    expiration: float | None = None,
) -> None:
    headers = dict(message.headers or {})
    headers.update({"x-attempt": attempt, "x-failure-reason": reason[:500], "x-origin-queue": origin_queue})
    copy = aio_pika.Message(
        body=message.body,
        message_id=message.message_id,
        type=message.type,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers=headers,
        expiration=expiration,
    )
    await exchange.publish(copy, routing_key=target_queue)


@dataclass
class _Subscription:
    queue: str
    routing_keys: list[str]
    handler: Handler
    component: str  # the subscriber's, for its telemetry (delivery runs in the publisher's task)


@dataclass
class InProcessBus:
    """Stand-in for RabbitMQ in the embedded run when no broker is reachable: same routing, retries
    and dead-lettering, in memory (so nothing survives a restart)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    dead_letters: list[tuple[str, Envelope | bytes, str]] = field(default_factory=list)
    _subscriptions: list[_Subscription] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def publish(self, envelope: Envelope) -> None:
        key = routing_key_of(envelope)
        body = json.loads(json.dumps(envelope))  # consumers get their own copy, as over the wire
        for sub in self._subscriptions:
            if any(topic_matches(pattern, key) for pattern in sub.routing_keys):
                task = asyncio.create_task(self._deliver(sub, body))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver(self, sub: _Subscription, envelope: Envelope) -> None:
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                with (
                    component(sub.component),
                    continued_trace(envelope.get("traceparent", "")),
                    tracer(__name__).start_as_current_span(f"{sub.queue} process"),
                ):
                    await sub.handler(envelope)
                return
            except PoisonMessage as exc:
                self.dead_letters.append((sub.queue, envelope, str(exc)))
                return
            except Exception as exc:
                log.warning("event handler failed", extra={"queue": sub.queue, "attempt": attempt}, exc_info=True)
                if attempt == self.retry.max_attempts:
                    self.dead_letters.append((sub.queue, envelope, repr(exc)))
                    return
                await asyncio.sleep(self.retry.delay(attempt))

    async def subscribe(
        self, queue: str, routing_keys: list[str], handler: Handler, *, exclusive: bool = False
    ) -> None:
        self._subscriptions.append(_Subscription(queue, routing_keys, handler, current_component()))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def connect_bus(url: str, *, allow_in_process: bool, retry: RetryPolicy | None = None) -> EventBus:
    """RabbitMQ at `url`; when it is unreachable, the in-process bus if allowed (embedded run only)."""
    bus = RabbitBus(url, retry=retry)
    try:
        await bus.connect(timeout=3.0)
    except Exception:
        if not allow_in_process:
            raise
        log.warning("RabbitMQ unreachable: using the in-process event bus")
        return InProcessBus(retry=retry or RetryPolicy())
    return bus

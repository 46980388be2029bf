"""Waiting until the stack has finished what it started, so that a test can assert that something did
*not* happen (no mail, no second event) from the system's state instead of sleeping and hoping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader

OUTBOX = "_outbox"


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)


async def _pending_entries(store: Any) -> set[str]:
    pending: set[str] = set()
    for collection in store.aggregates:
        for doc in await collection.find_many({f"{OUTBOX}.0": {"$exists": True}}, projection={OUTBOX: 1}):
            pending.update(entry["id"] for entry in doc[OUTBOX])
    return pending


async def outbox_drained(store: Any, timeout: float = 10) -> None:
    """Every outbox entry the service had written before this call has been delivered. The relay
    removes an entry only once the SMTP server accepted its mail or the broker confirmed its event,
    so afterwards the mailbox holds every such mail and every bound queue every such event."""
    waiting = await _pending_entries(store)

    async def delivered() -> bool:
        return not waiting & await _pending_entries(store)

    await until(delivered, f"the outbox entries {sorted(waiting)} were delivered", timeout)


async def background_done(domain: Any, timeout: float = 10) -> None:
    """Work a request started and did not wait for (the password-reset lookup) has finished."""

    async def done() -> bool:
        return not domain._background

    await until(done, "the identity domain's background tasks finished", timeout)


def handled(reader: InMemoryMetricReader, queue: str, outcome: str = "ok") -> int:
    """How many messages the consumer of `queue` has finished (and acknowledged) with `outcome`; the
    bus records `messaging.process.duration` after the ack."""
    data = reader.get_metrics_data()
    return sum(
        point.count
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "messaging.process.duration"
        for point in metric.data.data_points
        if point.attributes.get("messaging.destination.name") == queue and point.attributes.get("outcome") == outcome
    )


async def handled_at_least(reader: InMemoryMetricReader, queue: str, count: int, timeout: float = 10) -> None:
    async def enough() -> bool:
        return handled(reader, queue) >= count

    await until(enough, f"{queue} had handled {count} messages", timeout)

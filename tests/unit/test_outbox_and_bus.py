"""The outbox relay and the in-process bus, without a broker."""

from __future__ import annotations

import asyncio

from portalkit.events import InProcessBus, RetryPolicy, new_envelope, routing_key_of, topic_matches
from portalkit.mail import build_message
from portalkit.mongo import TracedCollection, connect
from portalkit.outbox import OutboxRelay, event_entry, mail_entry, push_entries


class FlakyBus:
    """Refuses the first `failures` publishes, like a broker that is away, then accepts."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.published: list[dict] = []

    async def publish(self, envelope: dict) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker away")
        self.published.append(envelope)

    async def subscribe(self, *args, **kwargs) -> None: ...

    async def close(self) -> None: ...


class ListMailer:
    def __init__(self) -> None:
        self.sent: list = []

    async def send(self, message) -> None:
        self.sent.append(message)


async def test_relay_keeps_order_per_document_and_retries_until_delivered():
    things = TracedCollection(connect("memory://", "unit_outbox"), "things")
    first = event_entry("unit", "thing.created", "thing/1", {"n": 1})
    second = event_entry("unit", "thing.updated", "thing/1", {"n": 2})
    mail = mail_entry(build_message("a@x.test", "b@x.test", "hello", "body"))
    await things.insert_one({"_id": "t1", "_outbox": [first]})
    await things.update_one({"_id": "t1"}, {"$push": push_entries([second, mail])})
    bus, mailer = FlakyBus(failures=1), ListMailer()
    relay = OutboxRelay([things], bus, mailer)
    assert await relay.drain() is True  # the broker refused: everything waits, nothing skipped
    assert bus.published == [] and mailer.sent == []
    assert len((await things.find_one({"_id": "t1"}))["_outbox"]) == 3
    assert await relay.drain() is False
    assert [e["data"]["n"] for e in bus.published] == [1, 2]
    assert [m["Subject"] for m in mailer.sent] == ["hello"]
    assert (await things.find_one({"_id": "t1"}))["_outbox"] == []


async def test_in_process_bus_routes_retries_and_dead_letters():
    bus = InProcessBus(retry=RetryPolicy(max_attempts=2, first_delay_seconds=0.01))
    got: list[str] = []
    attempts = {"n": 0}

    async def collect(event):
        got.append(event["type"])

    async def always_fails(event):
        attempts["n"] += 1
        raise RuntimeError("nope")

    await bus.subscribe("unit.collect", ["thing.*"], collect)
    await bus.subscribe("unit.fail", ["thing.created"], always_fails)
    await bus.publish(new_envelope("unit", "thing.created", "thing/1", {}))
    await bus.publish(new_envelope("unit", "other.created", "other/1", {}))
    for _ in range(100):
        if bus.dead_letters:
            break
        await asyncio.sleep(0.01)
    assert got == ["portal.thing.created.v1"]
    assert attempts["n"] == 2
    assert [(queue, reason) for queue, _, reason in bus.dead_letters] == [("unit.fail", "RuntimeError('nope')")]


def test_routing_keys_and_topic_patterns():
    assert routing_key_of({"type": "portal.contact.portal_access_changed.v1"}) == "contact.portal_access_changed"
    assert topic_matches("contact.*", "contact.synced")
    assert not topic_matches("contact.*", "contact.a.b")
    assert topic_matches("#", "a.b.c") and topic_matches("a.#", "a")
    assert not topic_matches("case.*", "contact.created")

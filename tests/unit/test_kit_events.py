"""The service kit's event parts without a broker: the write primitive and the outbox relay, the
in-process bus, and consumer tables (validation at the edge, final vs retried failures)."""

from __future__ import annotations

import asyncio

import pytest

from portalkit.catalog import CATALOG, ContactDeleted, ContactPortalAccessChanged, UserDeactivated
from portalkit.consumers import Consumer, Received
from portalkit.errors import NotFound
from portalkit.events import InProcessBus, PoisonMessage, RetryPolicy, new_envelope, routing_key_of, topic_matches
from portalkit.mail import build_message
from portalkit.mongo import connect
from portalkit.outbox import AggregateCollection, OutboxRelay

GONE = ContactDeleted(contact_id="con_1", account_id="acc_1")


def _deactivated(n: int) -> UserDeactivated:
    return UserDeactivated(user_id="usr_1", account_id="acc_1", reason=f"r{n}")


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


def _collection(name: str) -> AggregateCollection:
    return AggregateCollection(connect("memory://", f"unit_{name}"), name)


async def test_relay_keeps_order_per_document_and_retries_until_delivered():
    things = _collection("things")
    await things.insert({"_id": "t1"}, [_deactivated(1)])
    mail = build_message("a@x.test", "b@x.test", "hello", "body")
    await things.change({"_id": "t1"}, {"$set": {"n": 2}}, [_deactivated(2), mail])
    bus, mailer = FlakyBus(failures=1), ListMailer()
    relay = OutboxRelay([things], bus, mailer)
    assert await relay.drain() is True  # the broker refused: everything waits, nothing skipped
    assert bus.published == [] and mailer.sent == []
    assert len((await things.find_one({"_id": "t1"}))["_outbox"]) == 3
    assert await relay.drain() is False
    assert [e["data"]["reason"] for e in bus.published] == ["r1", "r2"]
    assert [m["Subject"] for m in mailer.sent] == ["hello"]
    assert (await things.find_one({"_id": "t1"}))["_outbox"] == []


async def test_a_write_with_outgoing_entries_wakes_the_relay_and_one_without_does_not():
    things = _collection("wake")
    OutboxRelay([things], FlakyBus(0), ListMailer())  # attaches its wake-up to the collection
    woken: list[bool] = []
    things.on_write = lambda: woken.append(True)
    await things.insert({"_id": "t1"})
    await things.change({"_id": "t1"}, {"$set": {"n": 1}})
    assert woken == []
    await things.change({"_id": "t1"}, {"$set": {"n": 2}}, [_deactivated(1)])
    assert woken == [True]
    assert await things.change({"_id": "nope"}, {"$set": {"n": 3}}, [_deactivated(2)]) is None
    assert woken == [True]  # nothing matched: nothing written, nothing to relay


async def test_the_same_event_applied_twice_changes_nothing_the_second_time():
    things = _collection("dedupe")
    await things.insert({"_id": "t1", "n": 0})
    first = await things.change({"_id": "t1"}, {"$inc": {"n": 1}}, [_deactivated(1)], event_id="ev-1")
    again = await things.change({"_id": "t1"}, {"$inc": {"n": 1}}, [_deactivated(1)], event_id="ev-1")
    assert first is not None and first["n"] == 1 and again is None
    stored = await things.find_one({"_id": "t1"})
    assert stored["n"] == 1 and len(stored["_outbox"]) == 1 and stored["applied_events"] == ["ev-1"]
    await things.insert({"_id": "t2"}, event_id="ev-2")
    assert await things.change({"_id": "t2"}, {"$set": {"x": 1}}, event_id="ev-2") is None


async def test_in_process_bus_routes_retries_and_dead_letters():
    bus = InProcessBus(retry=RetryPolicy(max_attempts=2, first_delay_seconds=0.01))
    got: list[str] = []
    attempts = {"n": 0}

    async def collect(event):
        got.append(event["type"])

    async def always_fails(event):
        attempts["n"] += 1
        raise RuntimeError("nope")

    await bus.subscribe("unit.collect", ["user.*"], collect)
    await bus.subscribe("unit.fail", ["user.deactivated"], always_fails)
    await bus.publish(new_envelope(_deactivated(1)))
    await bus.publish(new_envelope(GONE))
    for _ in range(200):
        if bus.dead_letters:
            break
        await asyncio.sleep(0.01)
    assert got == ["portal.user.deactivated.v1"]
    assert attempts["n"] == 2
    assert [(queue, reason) for queue, _, reason in bus.dead_letters] == [("unit.fail", "RuntimeError('nope')")]


def test_routing_keys_and_topic_patterns():
    assert routing_key_of({"type": "portal.contact.portal_access_changed.v1"}) == "contact.portal_access_changed"
    assert topic_matches("contact.*", "contact.synced")
    assert not topic_matches("contact.*", "contact.a.b")
    assert topic_matches("#", "a.b.c") and topic_matches("a.#", "a")
    assert not topic_matches("case.*", "contact.created")


def test_the_catalog_has_every_event_of_the_contract_and_envelopes_follow_it():
    assert len(CATALOG) == 24
    envelope = new_envelope(GONE)
    assert envelope["type"] == "portal.contact.deleted.v1"
    assert envelope["subject"] == "contact/con_1" and envelope["accountid"] == "acc_1"
    assert envelope["source"] == "/portal/contacts"
    assert envelope["data"] == {"contactId": "con_1", "accountId": "acc_1", "userId": None, "externalId": None}


async def test_a_consumer_gets_typed_data_and_refuses_what_does_not_fit_at_once():
    seen: list[Received] = []

    async def on_access(event: Received[ContactPortalAccessChanged]) -> None:
        seen.append(event)

    async def on_deleted(event: Received[ContactDeleted]) -> None:
        raise NotFound("no such contact")

    consumer = Consumer("unit.contacts", {ContactPortalAccessChanged: on_access, ContactDeleted: on_deleted})
    assert consumer.routing_keys == ["contact.portal_access_changed", "contact.deleted"]
    good = new_envelope(
        ContactPortalAccessChanged(contact_id="c", account_id="a", email="e@x.test", name="N", enabled=True)
    )
    await consumer.handle(good)
    assert seen[0].id == good["id"] and seen[0].data.enabled is True and seen[0].data.email == "e@x.test"

    broken = {**good, "data": {"contactId": "c", "enabled": "perhaps"}}
    with pytest.raises(PoisonMessage, match=r"does not match the contract: accountId: Field required"):
        await consumer.handle(broken)
    with pytest.raises(PoisonMessage, match=r"does not handle 'user\.deactivated'"):
        await consumer.handle(new_envelope(_deactivated(1)))
    with pytest.raises(PoisonMessage, match=r"contact\.deleted refused: no such contact"):
        await consumer.handle(new_envelope(GONE))
    assert len(seen) == 1


async def test_in_process_bus_dead_letters_a_refused_event_without_retrying():
    bus = InProcessBus(retry=RetryPolicy(max_attempts=5, first_delay_seconds=0.01))
    calls = {"n": 0}

    async def refuse(event: Received[ContactDeleted]) -> None:
        calls["n"] += 1
        raise NotFound("gone")

    consumer = Consumer("unit.refuse", {ContactDeleted: refuse})
    await bus.subscribe(consumer.queue, consumer.routing_keys, consumer.handle)
    await bus.publish(new_envelope(GONE))
    for _ in range(200):
        if bus.dead_letters:
            break
        await asyncio.sleep(0.01)
    assert calls["n"] == 1
    assert bus.dead_letters[0][0] == "unit.refuse" and "refused: gone" in bus.dead_letters[0][2]

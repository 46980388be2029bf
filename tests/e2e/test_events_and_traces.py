"""Event delivery guarantees and tracing, end to end on real RabbitMQ (contract/events.md)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime

import aio_pika
from opentelemetry.trace import SpanKind

from portalkit.catalog import ContactPortalAccessChanged
from portalkit.events import DEAD_LETTER_QUEUE, EXCHANGE, new_envelope
from tests.support.events import tap

INVITE = """mutation($email: String!) { inviteUsers(input: [{email: $email, name: "Tess Trace", role: USER}]) {
  user { id status } error } }"""
SET_ROLE = "mutation($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { id role } }"
ANNOUNCE = """mutation($title: String!) { publishAnnouncement(input: {kind: MAINTENANCE, title: $title,
  body: "We upgrade the database.", startsAt: "2026-12-01T02:00:00Z", endsAt: "2026-12-01T04:00:00Z"}) { id } }"""


async def _invite(gql, admin_token: str) -> str:
    email = f"tess.{uuid.uuid4().hex[:8]}@acme.test"
    data = await gql.ok(INVITE, {"email": email}, token=admin_token)
    return data["inviteUsers"][0]["user"]["id"]


async def _publish_raw(amqp_url: str, routing_key: str, body: bytes, message_id: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        await exchange.publish(
            aio_pika.Message(body=body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=routing_key,
        )


async def _dead_letter(amqp_url: str, message_id: str, timeout: float = 15) -> aio_pika.abc.AbstractIncomingMessage:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(DEAD_LETTER_QUEUE, durable=True)
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            message = await queue.get(fail=False, no_ack=False)
            if message is None:
                await asyncio.sleep(0.2)
                continue
            if message.message_id == message_id:
                await message.ack()
                return message
            await message.reject(requeue=True)
            await asyncio.sleep(0.05)
    raise AssertionError(f"{message_id} did not reach {DEAD_LETTER_QUEUE}")


async def test_envelope_on_the_wire(gql, direct_amqp_url):
    admin = await gql.token("admin@acme.test")
    async with tap(direct_amqp_url, ["invitation.sent"]) as events:
        user_id = await _invite(gql, admin)
        event = await events.wait_for("invitation.sent", lambda e: e["data"]["userId"] == user_id)
        message = events.messages[events.events.index(event)]
    assert event["specversion"] == "1.0"
    assert event["source"] == "/portal/identity"
    assert event["subject"] == f"user/{user_id}"
    assert event["accountid"] == event["data"]["accountId"]
    assert event["traceparent"].startswith("00-")
    assert datetime.fromisoformat(event["time"].replace("Z", "+00:00")).tzinfo is not None
    assert message.message_id == event["id"]
    assert message.type == "portal.invitation.sent.v1"
    assert message.content_type == "application/cloudevents+json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.headers["traceparent"].split("-")[1] == event["traceparent"].split("-")[1]
    assert "token" not in json.dumps(event["data"]).lower()


async def test_one_request_is_one_trace_through_grpc_mongo_publish_and_consume(gql, spans, direct_amqp_url):
    root = await gql.token("root@support.test")
    spans.clear()
    title = f"Trace me {uuid.uuid4().hex[:6]}"
    async with tap(direct_amqp_url, ["announcement.published"]) as events:
        await gql.ok(ANNOUNCE, {"title": title}, token=root)
        event = await events.wait_for("announcement.published", lambda e: e["data"]["title"] == title)
    trace_id = int(event["traceparent"].split("-")[1], 16)

    def in_trace():
        return [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]

    expected = {
        "gateway span": lambda s: s.kind == SpanKind.SERVER and s.name.startswith("POST /graphql"),
        "gRPC client span": lambda s: s.kind == SpanKind.CLIENT and s.attributes.get("rpc.system") == "grpc",
        "gRPC server span": lambda s: s.kind == SpanKind.SERVER and s.attributes.get("rpc.system") == "grpc",
        "Mongo span": lambda s: s.attributes.get("db.system") == "mongodb",
        "publish span": lambda s: s.kind == SpanKind.PRODUCER,
        "consume span": lambda s: s.kind == SpanKind.CONSUMER,
    }
    missing = list(expected)
    for _ in range(100):  # spans end a moment after the response and the partner's delivery
        trace = in_trace()
        missing = [name for name, matches in expected.items() if not any(matches(s) for s in trace)]
        if not missing:
            break
        await asyncio.sleep(0.05)
    assert not missing, f"missing {missing} in {[(s.name, s.kind) for s in in_trace()]}"


async def test_state_change_while_broker_is_cut_publishes_when_it_returns(gql, stack, broker_proxy, direct_amqp_url):
    admin = await gql.token("admin@acme.test")
    user_id = await _invite(gql, admin)
    identity_store = stack.services["identity"].store
    async with tap(direct_amqp_url, ["user.role_changed"]) as events:
        broker_proxy.cut()
        try:
            changed = await gql.ok(SET_ROLE, {"id": user_id, "role": "MANAGER"}, token=admin)
            assert changed["setUserRole"]["role"] == "MANAGER"  # acknowledged while RabbitMQ is away
            await asyncio.sleep(1.0)
            assert not events.of_type("user.role_changed")
            pending = await identity_store.get_user(user_id)
            assert [e["envelope"]["type"] for e in pending["_outbox"]] == ["portal.user.role_changed.v1"]
        finally:
            broker_proxy.restore()
        event = await events.wait_for("user.role_changed", lambda e: e["data"]["userId"] == user_id, timeout=30)
    assert (event["data"]["oldRole"], event["data"]["newRole"]) == ("USER", "MANAGER")
    assert (await identity_store.get_user(user_id))["_outbox"] == []


async def test_duplicate_delivery_changes_nothing(gql, demo, direct_amqp_url, stack):
    acme = (await stack.services["identity"].store.find_user_by_email("admin@acme.test"))["account_id"]
    contact_id = f"con_{uuid.uuid4().hex[:12]}"
    email = f"dup.{uuid.uuid4().hex[:6]}@acme.test"
    envelope = new_envelope(
        ContactPortalAccessChanged(
            contact_id=contact_id, account_id=acme, email=email, name="Dee Dup", enabled=True, role="USER"
        )
    )
    async with tap(direct_amqp_url, ["invitation.sent"]) as events:
        for _ in range(3):
            await _publish_raw(
                direct_amqp_url, "contact.portal_access_changed", json.dumps(envelope).encode(), envelope["id"]
            )
        await events.wait_for("invitation.sent", lambda e: e["data"].get("contactId") == contact_id)
        await asyncio.sleep(1.5)
        sent = [e for e in events.of_type("invitation.sent") if e["data"].get("contactId") == contact_id]
    assert len(sent) == 1
    user = await stack.services["identity"].store.find_user_by_contact(contact_id)
    assert user["status"] == "INVITED" and user["applied_events"] == [envelope["id"]]


async def test_poison_message_is_dead_lettered(direct_amqp_url):
    message_id = f"poison-{uuid.uuid4().hex[:8]}"
    await _publish_raw(direct_amqp_url, "contact.deleted", b"\x00 definitely not json", message_id)
    dead = await _dead_letter(direct_amqp_url, message_id)
    assert dead.headers["x-origin-queue"] == "identity.contact-access"
    assert "JSON" in str(dead.headers["x-failure-reason"])


async def test_handler_that_keeps_failing_is_retried_then_dead_lettered(direct_amqp_url):
    contact_id = f"con_{uuid.uuid4().hex[:12]}"
    envelope = new_envelope(
        ContactPortalAccessChanged(
            contact_id=contact_id, account_id="acc_does_not_exist", email="x@y.test", name="X", enabled=True
        )
    )
    await _publish_raw(direct_amqp_url, "contact.portal_access_changed", json.dumps(envelope).encode(), envelope["id"])
    dead = await _dead_letter(direct_amqp_url, envelope["id"])
    assert dead.headers["x-attempt"] == 1  # a domain refusal is final: dead-lettered at once, no retries
    assert "contact.portal_access_changed refused: account acc_does_not_exist not found" in str(
        dead.headers["x-failure-reason"]
    )
    assert json.loads(dead.body)["id"] == envelope["id"]  # kept whole, for a replay


def _points(reader, name: str) -> list:
    data = reader.get_metrics_data()
    return [
        point
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


async def test_metrics_per_rpc_and_per_queue(gql, metric_reader):
    user = await gql.token("user@acme.test")
    await gql.ok("{ me { id } }", token=user)
    await gql.error("{ accounts { totalCount } }", token=user)  # refused: PERMISSION_DENIED
    root = await gql.token("root@support.test")
    await gql.ok(ANNOUNCE, {"title": f"Metrics {uuid.uuid4().hex[:6]}"}, token=root)
    for _ in range(100):
        queues = {
            p.attributes.get("messaging.destination.name") for p in _points(metric_reader, "messaging.process.duration")
        }
        if "identity.announcement-mail" in queues:
            break
        await asyncio.sleep(0.05)
    rpc = _points(metric_reader, "rpc.server.duration")
    by_status = {(p.attributes["rpc.method"], p.attributes["rpc.grpc.status_code"]) for p in rpc}
    assert ("GetMe", "OK") in by_status
    assert ("ListAccounts", "PERMISSION_DENIED") in by_status
    assert all(p.count >= 1 and p.sum >= 0 for p in rpc)
    assert "identity.announcement-mail" in queues
    ages = {p.attributes["messaging.destination.name"] for p in _points(metric_reader, "messaging.message.age")}
    assert "identity.announcement-mail" in ages
    depths = {
        p.attributes["messaging.destination.name"]: p.value for p in _points(metric_reader, "messaging.queue.depth")
    }
    assert "identity.contact-access" in depths and depths["identity.contact-access"] >= 0

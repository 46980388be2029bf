"""Event delivery guarantees and tracing, end to end on real RabbitMQ (contract/events.md)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import datetime

import aio_pika
from opentelemetry.trace import SpanKind

from portalkit.auth import hash_secret
from portalkit.catalog import ContactPortalAccessChanged
from portalkit.events import EXCHANGE, new_envelope
from tests.support.events import dead_lettered, tap
from tests.support.people import invitation_token
from tests.support.settle import handled, handled_at_least, outbox_drained, until

INVITE = """mutation($email: String!) { inviteUsers(input: [{email: $email, name: "Tess Trace", role: USER}]) {
  user { id status } error } }"""
SET_ROLE = "mutation($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { id role } }"
ANNOUNCE = """mutation($title: String!) { publishAnnouncement(input: {kind: MAINTENANCE, title: $title,
  body: "We upgrade the database.", startsAt: "2026-12-01T02:00:00Z", endsAt: "2026-12-01T04:00:00Z"}) { id } }"""


async def _invite(gql, admin_token: str, email: str = "") -> str:
    email = email or f"tess.{uuid.uuid4().hex[:8]}@acme.test"
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


async def test_envelope_on_the_wire(gql, tokens, mailbox, direct_amqp_url):
    admin = await tokens("admin@acme.test")
    email = f"tess.{uuid.uuid4().hex[:8]}@acme.test"
    async with tap(direct_amqp_url, ["invitation.sent"]) as events:
        user_id = await _invite(gql, admin, email)
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
    # contract/events.md: the catalog's fields are there, and no event carries a token
    assert {"userId", "accountId", "email", "role", "invitationId", "expiresAt", "resend"} <= event["data"].keys()
    assert (event["data"]["email"], event["data"]["resend"]) == (email, False)
    secret = await invitation_token(mailbox, email)
    wire = message.body.decode() + json.dumps(message.headers, default=str)
    assert secret not in wire and hash_secret(secret) not in wire


async def test_one_request_is_one_trace_through_grpc_mongo_publish_and_consume(gql, tokens, spans, direct_amqp_url):
    root = await tokens("root@support.test")
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


async def test_state_change_while_broker_is_cut_publishes_when_it_returns(
    gql, tokens, stack, broker_proxy, direct_amqp_url, caplog
):
    admin = await tokens("admin@acme.test")
    user_id = await _invite(gql, admin)
    identity_store = stack.services["identity"].store
    await outbox_drained(identity_store)  # the invitation's own entries leave before the broker does
    async with tap(direct_amqp_url, ["user.role_changed"]) as events:
        broker_proxy.cut()
        try:
            changed = await gql.ok(SET_ROLE, {"id": user_id, "role": "MANAGER"}, token=admin)
            assert changed["setUserRole"]["role"] == "MANAGER"  # acknowledged while RabbitMQ is away
            pending = (await identity_store.get_user(user_id))["_outbox"]
            assert [e["envelope"]["type"] for e in pending] == ["portal.user.role_changed.v1"]

            async def relay_failed() -> bool:
                return any(getattr(r, "entry", None) == pending[0]["id"] for r in caplog.records)

            # the relay tried, was refused, and kept the entry with the change
            await until(relay_failed, "the relay reported the failed delivery", timeout=15)
            assert [e["id"] for e in (await identity_store.get_user(user_id))["_outbox"]] == [pending[0]["id"]]
        finally:
            broker_proxy.restore()
        event = await events.wait_for("user.role_changed", lambda e: e["data"]["userId"] == user_id, timeout=30)
    assert event["id"] == pending[0]["id"]
    assert (event["data"]["oldRole"], event["data"]["newRole"]) == ("USER", "MANAGER")
    assert (await identity_store.get_user(user_id))["_outbox"] == []


async def test_duplicate_delivery_changes_nothing(direct_amqp_url, stack, metric_reader):
    identity_store = stack.services["identity"].store
    acme = (await identity_store.find_user_by_email("admin@acme.test"))["account_id"]
    contact_id = f"con_{uuid.uuid4().hex[:12]}"
    email = f"dup.{uuid.uuid4().hex[:6]}@acme.test"
    envelope = new_envelope(
        ContactPortalAccessChanged(
            contact_id=contact_id, account_id=acme, email=email, name="Dee Dup", enabled=True, role="USER"
        )
    )
    before = handled(metric_reader, "identity.contact-access")
    async with tap(direct_amqp_url, ["invitation.sent"]) as events:
        for _ in range(3):
            await _publish_raw(
                direct_amqp_url, "contact.portal_access_changed", json.dumps(envelope).encode(), envelope["id"]
            )
        # all three copies handled and acknowledged, whatever they wrote delivered, and the tap
        # has received all that was published: a second invitation would be here by now
        await handled_at_least(metric_reader, "identity.contact-access", before + 3)
        await outbox_drained(identity_store)
        await events.settle()
        sent = [e for e in events.of_type("invitation.sent") if e["data"].get("contactId") == contact_id]
    assert len(sent) == 1
    user = await stack.services["identity"].store.find_user_by_contact(contact_id)
    assert user["status"] == "INVITED" and user["applied_events"] == [envelope["id"]]


async def test_poison_message_is_dead_lettered(direct_amqp_url):
    message_id = f"poison-{uuid.uuid4().hex[:8]}"
    await _publish_raw(direct_amqp_url, "contact.deleted", b"\x00 definitely not json", message_id)
    dead = await dead_lettered(direct_amqp_url, message_id)
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
    dead = await dead_lettered(direct_amqp_url, envelope["id"])
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


def _counts(reader, name: str, *keys: str) -> Counter:
    """Recorded values per attribute combination, so a test can tell its own calls from earlier ones."""
    counts: Counter = Counter()
    for point in _points(reader, name):
        counts[tuple(point.attributes.get(k) for k in keys)] += point.count
    return counts


async def test_metrics_per_rpc_and_per_queue(gql, tokens, metric_reader):
    rpc_keys = ("rpc.method", "rpc.grpc.status_code")
    queue = "identity.announcement-mail"
    rpc_before = _counts(metric_reader, "rpc.server.duration", *rpc_keys)
    ages_before = _counts(metric_reader, "messaging.message.age", "messaging.destination.name")
    handled_before = handled(metric_reader, queue)

    user = await tokens("user@acme.test")
    await gql.ok("{ me { id } }", token=user)
    await gql.error("{ accounts { totalCount } }", token=user)  # refused: PERMISSION_DENIED
    root = await tokens("root@support.test")
    await gql.ok(ANNOUNCE, {"title": f"Metrics {uuid.uuid4().hex[:6]}"}, token=root)
    await handled_at_least(metric_reader, queue, handled_before + 1)

    rpc = _counts(metric_reader, "rpc.server.duration", *rpc_keys) - rpc_before
    assert rpc[("GetMe", "OK")] >= 1 and rpc[("ListAccounts", "PERMISSION_DENIED")] >= 1, rpc
    assert all(p.min > 0 for p in _points(metric_reader, "rpc.server.duration"))  # each call took time (ms)
    ages = _counts(metric_reader, "messaging.message.age", "messaging.destination.name") - ages_before
    assert ages[(queue,)] >= 1, ages
    depths = {
        p.attributes["messaging.destination.name"]: p.value for p in _points(metric_reader, "messaging.queue.depth")
    }
    # polled from the broker; the consumer keeps up, so nothing is waiting
    assert depths.get("identity.contact-access") == 0, depths

"""Announcements: publish, opt-in mail, listing, and the live subscription (design.md 5.11)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import websockets

from tests.support.graphql import code_of
from tests.support.people import new_person
from tests.support.settle import handled, handled_at_least, outbox_drained

PUBLISH = """mutation($i: PublishAnnouncementInput!) { publishAnnouncement(input: $i) {
  id kind title body startsAt endsAt publishedAt } }"""
LIST = "query($a: Boolean) { announcements(activeOnly: $a) { id title endsAt } }"
PREFS = "mutation($i: EmailPreferencesInput!) { updateEmailPreferences(input: $i) { maintenance incident } }"


def _input(kind: str = "MAINTENANCE", **extra) -> dict:
    start = datetime.now(UTC) + timedelta(days=1)
    return {
        "kind": kind,
        "title": f"Window {uuid.uuid4().hex[:6]}",
        "body": "The portal is read-only during the upgrade.",
        "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(hours=2)).isoformat(),
        **extra,
    }


async def test_publish_mails_only_those_who_opted_in(gql, tokens, mailbox, stack, metric_reader):
    admin = await tokens("admin@acme.test")
    opted_in = await new_person(gql, mailbox, admin)
    not_opted = await new_person(gql, mailbox, admin)
    incident_only = await new_person(gql, mailbox, admin)
    await gql.ok(PREFS, {"i": {"maintenance": True}}, token=opted_in.access_token)
    await gql.ok(PREFS, {"i": {"incident": True}}, token=incident_only.access_token)
    root = await tokens("root@support.test")
    handled_before = handled(metric_reader, "identity.announcement-mail")
    notice = (await gql.ok(PUBLISH, {"i": _input()}, token=root))["publishAnnouncement"]
    mail = (await mailbox.wait_for(opted_in.email, notice["title"]))[0]
    assert "[Maintenance]" in mail["Subject"]
    # the consumer is done with the announcement and every mail it queued is out: a mail to the
    # others would be in the mailbox by now
    await handled_at_least(metric_reader, "identity.announcement-mail", handled_before + 1)
    await outbox_drained(stack.services["identity"].store)
    assert not [m for m in mailbox.to(not_opted.email) if notice["title"] in str(m["Subject"])]
    assert not [m for m in mailbox.to(incident_only.email) if notice["title"] in str(m["Subject"])]
    listed = (await gql.ok(LIST, {"a": True}, token=not_opted.access_token))["announcements"]
    assert notice["id"] in [a["id"] for a in listed]


async def test_ended_notices_are_not_active(gql, tokens):
    root = await tokens("root@support.test")
    past = datetime.now(UTC) - timedelta(days=3)
    old = _input("INCIDENT", startsAt=past.isoformat(), endsAt=(past + timedelta(hours=1)).isoformat())
    notice = (await gql.ok(PUBLISH, {"i": old}, token=root))["publishAnnouncement"]
    user = await tokens("user@acme.test")
    assert notice["id"] not in [a["id"] for a in (await gql.ok(LIST, {"a": True}, token=user))["announcements"]]
    assert notice["id"] in [a["id"] for a in (await gql.ok(LIST, {"a": False}, token=user))["announcements"]]


async def test_publish_refuses_bad_input_and_non_support_admins(gql, tokens):
    root = await tokens("root@support.test")
    start = datetime.now(UTC)
    backwards = _input(startsAt=start.isoformat(), endsAt=(start - timedelta(hours=1)).isoformat())
    assert code_of(await gql.error(PUBLISH, {"i": backwards}, token=root)) == "BAD_USER_INPUT"
    assert code_of(await gql.error(PUBLISH, {"i": _input(title="   ")}, token=root)) == "BAD_USER_INPUT"
    for email in ("agent@support.test", "admin@acme.test", "user@acme.test"):
        token = await tokens(email)
        assert code_of(await gql.error(PUBLISH, {"i": _input()}, token=token)) == "FORBIDDEN"
    assert code_of(await gql.error(LIST, {"a": True})) == "UNAUTHENTICATED"


async def test_subscription_delivers_published_announcement_live(gql, tokens, stack):
    user = await tokens("user@acme.test")
    url = stack.gateway_url.replace("http", "ws") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {user}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": "subscription { announcementPublished { id title kind } }"},
                }
            )
        )
        live = stack.extras["gateway_app"].state.live
        for _ in range(100):  # the listener exists once the subscription has started
            if live.listener_count:
                break
            await asyncio.sleep(0.05)
        root = await tokens("root@support.test")
        notice = (await gql.ok(PUBLISH, {"i": _input("INCIDENT")}, token=root))["publishAnnouncement"]
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
            if message["type"] == "next" and message["payload"]["data"]["announcementPublished"]["id"] == notice["id"]:
                break
        assert message["payload"]["data"]["announcementPublished"] == {
            "id": notice["id"],
            "title": notice["title"],
            "kind": "INCIDENT",
        }


async def test_subscription_without_token_is_refused(stack):
    url = stack.gateway_url.replace("http", "ws") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": "subscription { announcementPublished { id } }"}}
            )
        )
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    assert message["type"] in ("error", "next")
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"

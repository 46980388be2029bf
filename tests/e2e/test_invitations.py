"""Inviting users, accepting, expiry, resend, and contact-driven access (design.md 5.1-5.3)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import aio_pika

from portalkit.catalog import CATALOG
from portalkit.events import EXCHANGE, new_envelope
from tests.support.events import tap
from tests.support.graphql import code_of
from tests.support.mailbox import body_of, token_from
from tests.support.people import ACCEPT, INVITE, PASSWORD, fresh_email, invitation_token, invite

INFO = "query($t: String!) { invitation(token: $t) { email accountName status expiresAt } }"
RESEND = "mutation($id: ID!) { resendInvitation(userId: $id) { id status resendCount expiresAt } }"
USER = "query($id: ID!) { user(id: $id) { id status role invitation { status resendCount } } }"


async def test_invite_several_rows_each_on_its_own(gql, tokens, mailbox):
    admin = await tokens("admin@acme.test")
    fresh = fresh_email("row")
    rows = [
        {"email": fresh, "name": "Row One", "role": "MANAGER"},
        {"email": "user@acme.test", "name": "Taken", "role": "USER"},
        {"email": "not-an-email", "name": "Bad", "role": "USER"},
    ]
    results = (await gql.ok(INVITE, {"account": None, "rows": rows}, token=admin))["inviteUsers"]
    assert [r["email"] for r in results] == [fresh, "user@acme.test", "not-an-email"]
    assert results[0]["user"]["status"] == "INVITED" and results[0]["user"]["role"] == "MANAGER"
    assert results[0]["error"] is None
    assert results[1]["user"] is None and "already" in results[1]["error"]
    assert results[2]["user"] is None and "invalid email" in results[2]["error"]
    mail = (await mailbox.wait_for(fresh, "invited"))[0]
    assert "Acme Corp" in mail["Subject"]
    # the link carries this user's live invitation token, not merely a `token=` parameter
    link = re.search(r"https://portal\.example\.test/accept-invitation\?token=(\S+)", body_of(mail))
    assert link, body_of(mail)
    assert link.group(1) == token_from(mail)
    found = await gql.ok(
        "query($t: String!) { invitation(token: $t) { email accountName status } }", {"t": link.group(1)}
    )
    assert found["invitation"] == {"email": fresh, "accountName": "Acme Corp", "status": "PENDING"}


async def test_accept_invitation_logs_in_and_publishes(gql, tokens, mailbox, direct_amqp_url):
    admin = await tokens("admin@acme.test")
    email = fresh_email("acc")
    async with tap(direct_amqp_url, ["invitation.*", "user.activated"]) as events:
        user = await invite(gql, admin, email)
        token = await invitation_token(mailbox, email)
        info = (await gql.ok(INFO, {"t": token}))["invitation"]
        assert (info["email"], info["accountName"], info["status"]) == (email, "Acme Corp", "PENDING")
        expires = datetime.fromisoformat(info["expiresAt"])
        assert timedelta(hours=71, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=72)

        weak = await gql.error(ACCEPT, {"t": token, "p": "password1"})
        assert code_of(weak) == "BAD_USER_INPUT"
        assert (await gql.ok(INFO, {"t": token}))["invitation"]["status"] == "PENDING"  # nothing changed

        session = (await gql.ok(ACCEPT, {"t": token, "p": PASSWORD}))["acceptInvitation"]
        assert session["user"]["status"] == "ACTIVE"
        me = (await gql.ok("{ me { email status } }", token=session["accessToken"]))["me"]
        assert me == {"email": email, "status": "ACTIVE"}
        sent = await events.wait_for("invitation.sent", lambda e: e["data"]["userId"] == user["id"])
        accepted = await events.wait_for("invitation.accepted", lambda e: e["data"]["userId"] == user["id"])
        await events.wait_for("user.activated", lambda e: e["data"]["userId"] == user["id"])
    assert sent["data"]["resend"] is False
    assert accepted["data"]["invitationId"] == sent["data"]["invitationId"]
    used = await gql.error(ACCEPT, {"t": token, "p": PASSWORD})
    assert (code_of(used), used["extensions"]["reason"]) == ("FAILED_PRECONDITION", "INVITATION_USED")
    assert (await gql.ok(INFO, {"t": token}))["invitation"]["status"] == "ACCEPTED"


async def test_expired_invitation_then_resend_voids_the_old_token(gql, tokens, mailbox, clock):
    admin = await tokens("admin@acme.test")
    email = fresh_email("exp")
    user = await invite(gql, admin, email)
    old_token = await invitation_token(mailbox, email)
    clock.advance(timedelta(hours=72, minutes=1))
    assert (await gql.ok(INFO, {"t": old_token}))["invitation"]["status"] == "EXPIRED"
    expired = await gql.error(ACCEPT, {"t": old_token, "p": PASSWORD})
    assert (code_of(expired), expired["extensions"]["reason"]) == ("FAILED_PRECONDITION", "INVITATION_EXPIRED")

    resent = (await gql.ok(RESEND, {"id": user["id"]}, token=admin))["resendInvitation"]
    assert resent["status"] == "PENDING" and resent["resendCount"] == 1
    new_token = await invitation_token(mailbox, email, count=2)
    assert new_token != old_token
    voided = await gql.error(ACCEPT, {"t": old_token, "p": PASSWORD})
    assert voided["extensions"]["reason"] == "INVITATION_REVOKED"
    assert (await gql.ok(INFO, {"t": old_token}))["invitation"]["status"] == "REVOKED"
    session = (await gql.ok(ACCEPT, {"t": new_token, "p": PASSWORD}))["acceptInvitation"]
    assert session["user"]["status"] == "ACTIVE"
    refused = await gql.error(RESEND, {"id": user["id"]}, token=admin)
    assert refused["extensions"]["reason"] == "USER_NOT_INVITED"


async def test_unknown_invitation_token(gql):
    assert (await gql.ok(INFO, {"t": "no-such-token"}))["invitation"] is None
    assert code_of(await gql.error(ACCEPT, {"t": "no-such-token", "p": PASSWORD})) == "NOT_FOUND"


async def _publish(amqp_url: str, event_type: str, contact_id: str, data: dict, account: str) -> None:
    envelope = new_envelope(CATALOG[event_type].model_validate(data))
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        await exchange.publish(
            aio_pika.Message(body=json.dumps(envelope).encode(), message_id=envelope["id"]), routing_key=event_type
        )


async def test_contact_portal_access_enable_disable_and_delete(gql, mailbox, direct_amqp_url, stack):
    store = stack.services["identity"].store
    acme = (await store.find_user_by_email("admin@acme.test"))["account_id"]
    contact_id = f"con_{uuid.uuid4().hex[:12]}"
    email = fresh_email("contact")
    access = {"contactId": contact_id, "accountId": acme, "email": email, "name": "Cora Contact", "role": "MANAGER"}
    async with tap(direct_amqp_url, ["invitation.sent", "user.deactivated", "user.activated"]) as events:
        await _publish(direct_amqp_url, "contact.portal_access_changed", contact_id, {**access, "enabled": True}, acme)
        sent = await events.wait_for("invitation.sent", lambda e: e["data"].get("contactId") == contact_id)
        mail = (await mailbox.wait_for(email, "invited"))[0]
        assert sent["data"]["role"] == "MANAGER"
        user_id = sent["data"]["userId"]

        session = (await gql.ok(ACCEPT, {"t": token_from(mail), "p": PASSWORD}))["acceptInvitation"]
        await _publish(direct_amqp_url, "contact.portal_access_changed", contact_id, {**access, "enabled": False}, acme)
        gone = await events.wait_for("user.deactivated", lambda e: e["data"]["userId"] == user_id)
        assert gone["data"]["contactId"] == contact_id
        refused = await gql.error(
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }", {"t": session["refreshToken"]}
        )
        assert code_of(refused) == "UNAUTHENTICATED"

        await _publish(direct_amqp_url, "contact.portal_access_changed", contact_id, {**access, "enabled": True}, acme)
        await events.wait_for("user.activated", lambda e: e["data"]["userId"] == user_id)
        await _publish(
            direct_amqp_url, "contact.deleted", contact_id, {"contactId": contact_id, "accountId": acme}, acme
        )
        deleted = await events.wait_for(
            "user.deactivated", lambda e: e["data"]["userId"] == user_id and e["data"]["reason"] == "contact deleted"
        )
    assert deleted["data"]["reason"] == "contact deleted"
    login = await gql.error(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
        {"e": email, "p": PASSWORD},
    )
    assert code_of(login) == "UNAUTHENTICATED"

"""Identity operations on an in-memory database, without a server."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portalkit.auth import Caller, TokenIssuer, hash_secret
from portalkit.catalog import ContactPortalAccessChanged
from portalkit.clock import ManualClock
from portalkit.consumers import Received
from portalkit.errors import Conflict, FailedPrecondition, RateLimited, Unauthenticated
from portalkit.mail import message_from_outbox
from portalkit.mongo import connect
from services.identity.demo import DEMO_PASSWORD, load_demo
from services.identity.domain import Identity, password_hasher
from services.identity.events import IdentityMail
from services.identity.store import IdentityStore


@pytest.fixture
async def identity():
    store = IdentityStore(connect("memory://", "unit_identity"))
    await store.ensure_indexes()
    domain = Identity(
        store, TokenIssuer(), IdentityMail("portal@test", "https://portal.test"), ManualClock(), password_hasher("fast")
    )
    domain.demo = {d.email: d for d in await load_demo(domain)}
    return domain


def token_from_text(raw: str) -> str:
    match = re.search(r"token=([A-Za-z0-9_-]+)", raw)
    assert match, raw
    return match.group(1)


async def _caller(identity, email: str) -> Caller:
    user = await identity.store.find_user_by_email(email)
    return Caller(user["_id"], user["role"], user["account_id"], "ses_unit")


async def test_invite_rows_succeed_or_fail_alone_and_events_go_with_the_write(identity):
    admin = await _caller(identity, "admin@acme.test")
    outcomes = await identity.invite_users(
        admin, "", [("new.one@acme.test", "New One", "USER"), ("user@acme.test", "Taken", "USER"), ("bad", "X", "USER")]
    )
    assert [o.error == "" for o in outcomes] == [True, False, False]
    created = await identity.store.find_user_by_email("new.one@acme.test")
    assert created["status"] == "INVITED"
    kinds = [e["kind"] for e in created["_outbox"]]
    assert kinds == ["event", "mail"]
    event, mail = created["_outbox"]
    assert event["envelope"]["type"] == "portal.invitation.sent.v1"
    # the invitation token travels only in the mail; the event (read by partners) never carries it
    token = token_from_text(message_from_outbox(mail["mail"]).get_content())
    assert hash_secret(token) == created["invitation"]["token_hash"]
    assert token not in str(event["envelope"])


async def test_last_admin_cannot_be_demoted_or_deactivated(identity):
    admin = await _caller(identity, "admin@acme.test")
    with pytest.raises(FailedPrecondition) as refused:
        await identity.set_role(admin, admin.user_id, "USER")
    assert refused.value.reason == "LAST_ADMIN"
    with pytest.raises(FailedPrecondition):
        await identity.deactivate(admin, admin.user_id)
    assert (await identity.store.get_user(admin.user_id))["role"] == "ADMIN"


async def test_login_lockout_after_repeated_failures_without_revealing_existence(identity):
    for email in ("manager@acme.test", "ghost@acme.test"):
        for _ in range(5):
            with pytest.raises(Unauthenticated):
                await identity.login(email, "wrong-password", "")
        with pytest.raises(RateLimited):
            await identity.login(email, DEMO_PASSWORD if email.startswith("manager") else "x", "")
    identity.clock.advance(timedelta(minutes=16))
    assert (await identity.login("manager@acme.test", DEMO_PASSWORD, "")).user["email"] == "manager@acme.test"


async def test_create_account_with_taken_admin_email_leaves_nothing(identity):
    root = await _caller(identity, "root@support.test")
    before = await identity.store.accounts.count({})
    with pytest.raises(Conflict):
        await identity.create_account(root, "Initech", "INIT-1", "user@acme.test", "Bill")
    assert await identity.store.accounts.count({}) == before


def _access(account: str, enabled: bool) -> ContactPortalAccessChanged:
    return ContactPortalAccessChanged(
        contact_id="con_1", account_id=account, email="carol@acme.test", name="Carol", enabled=enabled
    )


def _events_of(user: dict) -> list[str]:
    return [e["envelope"]["type"] for e in user["_outbox"] if e["kind"] == "event"]


async def test_consumer_reactions_are_idempotent_even_out_of_order(identity):
    acme = (await identity.store.find_user_by_email("admin@acme.test"))["account_id"]
    enable, disable = Received("evt-1", _access(acme, True)), Received("evt-2", _access(acme, False))
    for _ in range(2):
        await identity.on_contact_access_changed(enable)
    user = await identity.store.find_user_by_contact("con_1")
    assert user["status"] == "INVITED" and _events_of(user) == ["portal.invitation.sent.v1"]
    for _ in range(2):
        await identity.on_contact_access_changed(disable)
    user = await identity.store.get_user(user["_id"])
    assert user["status"] == "INACTIVE"
    assert _events_of(user) == ["portal.invitation.sent.v1", "portal.user.deactivated.v1"]
    # the first event redelivered after the second: it was applied before, so nothing changes
    await identity.on_contact_access_changed(enable)
    again = await identity.store.get_user(user["_id"])
    assert again["status"] == "INACTIVE" and again["_outbox"] == user["_outbox"]
    assert again["applied_events"] == ["evt-1", "evt-2"]

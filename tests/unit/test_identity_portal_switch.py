"""The provider's portal switch per account, on the identity domain over an in-memory database:
who may flip it, what it publishes (in the same write), whose logins it refuses, and how identity's
reaction to a contact's portal access respects it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from portalkit.auth import Caller, PublicKey, TokenIssuer, TokenVerifier
from portalkit.catalog import ContactPortalAccessChanged
from portalkit.clock import ManualClock
from portalkit.consumers import Received
from portalkit.errors import FailedPrecondition, Forbidden, NotFound, Unauthenticated
from portalkit.mail import message_from_outbox
from portalkit.mongo import connect
from services.identity.demo import DEMO_PASSWORD, load_demo
from services.identity.domain import Identity, password_hasher
from services.identity.events import IdentityMail
from services.identity.handlers import account_message
from services.identity.store import IdentityStore

PORTAL_OFF = "PORTAL_DISABLED_FOR_ACCOUNT"
NEW_PASSWORD = "violet-harbor-lamp-93"


@pytest.fixture
async def identity() -> Identity:
    store = IdentityStore(connect("memory://", "unit_identity_switch"))
    await store.ensure_indexes()
    domain = Identity(
        store, TokenIssuer(), IdentityMail("portal@test", "https://portal.test"), ManualClock(), password_hasher("fast")
    )
    await load_demo(domain)
    return domain


async def _caller(identity: Identity, email: str) -> Caller:
    user = await identity.store.find_user_by_email(email)
    assert user is not None
    return Caller(user["_id"], user["role"], user["account_id"], "ses_unit", user.get("team", ""))


async def _account(identity: Identity, number: str) -> dict[str, Any]:
    account = await identity.store.find_account_by_number(number)
    assert account is not None
    return account


def _events(doc: dict[str, Any], event_type: str) -> list[dict[str, Any]]:
    """The envelopes of `event_type` waiting in the document's outbox (unit tests run no relay)."""
    return [
        e["envelope"]
        for e in doc.get("_outbox", [])
        if e["kind"] == "event" and e["envelope"]["type"] == f"portal.{event_type}.v1"
    ]


def _token_in(text: str) -> str:
    match = re.search(r"token=([A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


async def _verified(identity: Identity, access_token: str) -> Caller:
    async def keys() -> list[PublicKey]:
        return [identity.issuer.public_key]

    return await TokenVerifier(keys).verify(access_token)


async def test_only_a_support_admin_flips_the_switch_and_an_unknown_account_is_not_found(identity):
    acme = await _account(identity, "ACME-001")
    for email in ("admin@acme.test", "agent@support.test", "user@acme.test"):
        with pytest.raises(Forbidden):
            await identity.set_portal_enabled(await _caller(identity, email), acme["_id"], False)
    root = await _caller(identity, "root@support.test")
    with pytest.raises(NotFound):
        await identity.set_portal_enabled(root, "acc_nope", False)
    assert (await _account(identity, "ACME-001"))["_outbox"] == acme["_outbox"]  # nothing published


async def test_switching_publishes_account_updated_in_the_same_write_and_a_repeat_publishes_nothing(identity):
    root = await _caller(identity, "root@support.test")
    acme = await _account(identity, "ACME-001")
    off = await identity.set_portal_enabled(root, acme["_id"], False)
    assert off["portal_enabled"] is False and account_message(off).portal_enabled is False
    (event,) = _events(off, "account.updated")[1:]  # the first one announced the demo account
    assert event["subject"] == f"account/{acme['_id']}" and event["accountid"] == acme["_id"]
    assert event["data"] == {
        "accountId": acme["_id"],
        "number": "ACME-001",
        "name": "Acme Corp",
        "portalEnabled": False,
        "clientSuccessManagerId": None,
    }
    again = await identity.set_portal_enabled(root, acme["_id"], False)
    assert again["_outbox"] == off["_outbox"]
    on = await identity.set_portal_enabled(root, acme["_id"], True)
    assert [e["data"]["portalEnabled"] for e in _events(on, "account.updated")] == [True, False, True]


async def test_an_account_stored_before_the_switch_existed_counts_as_on(identity):
    root = await _caller(identity, "root@support.test")
    legacy = {"_id": "acc_legacy", "number": "OLD-1", "number_lower": "old-1", "name": "Old", "name_lower": "old"}
    await identity.store.insert_account({**legacy, "created_at": identity.clock.now()})
    stored = await identity.store.get_account("acc_legacy")
    assert account_message(stored).portal_enabled is True
    assert not _events(await identity.set_portal_enabled(root, "acc_legacy", True), "account.updated")
    off = await identity.set_portal_enabled(root, "acc_legacy", False)
    assert [e["data"]["portalEnabled"] for e in _events(off, "account.updated")] == [False]


async def test_create_account_and_the_demo_loader_announce_each_new_account_once(identity):
    root = await _caller(identity, "root@support.test")
    created = await identity.create_account(root, "Initech", "INIT-1", "bill@initech.test", "Bill")
    stored = await identity.store.get_account(created["_id"])
    assert stored["portal_enabled"] is True
    (event,) = _events(stored, "account.updated")
    assert event["data"]["portalEnabled"] is True and event["data"]["number"] == "INIT-1"
    for number in ("ACME-001", "GLOBEX-001"):
        assert len(_events(await _account(identity, number), "account.updated")) == 1
    await load_demo(identity)  # idempotent: existing accounts are not announced again
    for number in ("ACME-001", "GLOBEX-001"):
        assert len(_events(await _account(identity, number), "account.updated")) == 1


async def test_customers_of_a_switched_off_account_cannot_log_in_refresh_or_call_identity(identity):
    root = await _caller(identity, "root@support.test")
    acme = await _account(identity, "ACME-001")
    before = await identity.login("admin@acme.test", DEMO_PASSWORD, "")
    verified = await _verified(identity, before.access_token)
    await identity.set_portal_enabled(root, acme["_id"], False)

    with pytest.raises(Unauthenticated) as login:
        await identity.login("admin@acme.test", DEMO_PASSWORD, "")
    assert login.value.reason == PORTAL_OFF and "switched the portal off" in login.value.message
    with pytest.raises(Unauthenticated) as wrong_password:  # a stranger learns nothing about the account
        await identity.login("admin@acme.test", "not-the-password", "")
    assert wrong_password.value.reason == "INVALID_CREDENTIALS"
    with pytest.raises(Unauthenticated) as refresh:
        await identity.refresh(before.refresh_token)
    assert refresh.value.reason == PORTAL_OFF
    with pytest.raises(Unauthenticated) as call:
        await identity.current_caller(verified)
    assert call.value.reason == PORTAL_OFF

    # staff and other accounts are untouched
    for email in ("root@support.test", "agent@support.test", "admin@globex.test"):
        assert (await identity.login(email, DEMO_PASSWORD, "")).user["email"] == email

    # back on: the login that was refused is let in again, and so is the login made before
    await identity.set_portal_enabled(root, acme["_id"], True)
    again = await identity.login("admin@acme.test", DEMO_PASSWORD, "")
    assert (await identity.current_caller(await _verified(identity, again.access_token))).role == "ADMIN"
    assert (await identity.current_caller(verified)).user_id == verified.user_id
    assert (await identity.refresh(before.refresh_token)).user["email"] == "admin@acme.test"


async def test_an_invitation_cannot_be_accepted_while_the_portal_is_off_and_stays_usable(identity):
    root = await _caller(identity, "root@support.test")
    acme = await _account(identity, "ACME-001")
    (outcome,) = await identity.invite_users(root, acme["_id"], [("newbie@acme.test", "New Bie", "USER")])
    invited = await identity.store.get_user(outcome.user["_id"])
    mail = next(e for e in invited["_outbox"] if e["kind"] == "mail")
    token = _token_in(message_from_outbox(mail["mail"]).get_content())
    await identity.set_portal_enabled(root, acme["_id"], False)
    with pytest.raises(Unauthenticated) as refused:
        await identity.accept_invitation(token, NEW_PASSWORD, "")
    assert refused.value.reason == PORTAL_OFF
    assert (await identity.store.find_user_by_email("newbie@acme.test"))["status"] == "INVITED"
    await identity.set_portal_enabled(root, acme["_id"], True)
    assert (await identity.accept_invitation(token, NEW_PASSWORD, "")).user["status"] == "ACTIVE"


def _grant(account_id: str, email: str, contact_id: str = "con_1") -> ContactPortalAccessChanged:
    return ContactPortalAccessChanged(
        contact_id=contact_id, account_id=account_id, email=email, name="Some One", enabled=True
    )


async def test_granting_access_to_an_active_users_email_links_them_and_says_so_once(identity):
    acme = await _account(identity, "ACME-001")
    event = Received("evt-link", _grant(acme["_id"], "user@acme.test"))
    for _ in range(2):  # a redelivery changes and publishes nothing more
        await identity.on_contact_access_changed(event)
    user = await identity.store.find_user_by_email("user@acme.test")
    assert user["contact_id"] == "con_1" and user["status"] == "ACTIVE"
    (activated,) = _events(user, "user.activated")
    assert activated["data"] == {
        "userId": user["_id"],
        "accountId": acme["_id"],
        "contactId": "con_1",
        "email": "user@acme.test",
        "role": "USER",
    }
    assert user["applied_events"] == ["evt-link"]


async def test_granting_access_to_an_invited_users_email_links_them_with_their_pending_invitation(identity):
    root = await _caller(identity, "root@support.test")
    acme = await _account(identity, "ACME-001")
    (outcome,) = await identity.invite_users(root, acme["_id"], [("pending@acme.test", "Pen Ding", "USER")])
    await identity.on_contact_access_changed(Received("evt-pending", _grant(acme["_id"], "pending@acme.test")))
    user = await identity.store.get_user(outcome.user["_id"])
    assert user["contact_id"] == "con_1" and user["status"] == "INVITED"
    first, linked = _events(user, "invitation.sent")
    assert linked["data"]["contactId"] == "con_1" and linked["data"]["resend"] is False
    assert linked["data"]["invitationId"] == first["data"]["invitationId"]  # the same invitation, no new mail
    assert [e["kind"] for e in user["_outbox"]].count("mail") == 1


async def test_granting_access_is_refused_while_the_accounts_portal_is_off(identity):
    root = await _caller(identity, "root@support.test")
    acme = await _account(identity, "ACME-001")
    await identity.set_portal_enabled(root, acme["_id"], False)
    for email in ("stranger@acme.test", "manager@acme.test"):
        with pytest.raises(FailedPrecondition) as refused:
            await identity.on_contact_access_changed(Received(f"evt-{email}", _grant(acme["_id"], email)))
        assert refused.value.reason == PORTAL_OFF
    assert await identity.store.find_user_by_email("stranger@acme.test") is None
    assert not (await identity.store.find_user_by_email("manager@acme.test")).get("contact_id")

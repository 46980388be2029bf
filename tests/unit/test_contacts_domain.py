"""Contacts rules applied to an in-memory database, without a server: creating and inviting,
editing, deleting, back-office upserts, the portal switch, identity's events in any order, and
filtered, ordered paging."""

from __future__ import annotations

import pytest

from portalkit.auth import Caller
from portalkit.catalog import AccountUpdated, InvitationAccepted, InvitationSent, UserDeactivated
from portalkit.consumers import Received
from portalkit.errors import Conflict, FailedPrecondition, Forbidden, InvalidInput
from portalkit.mongo import connect
from services.contacts.domain import Contacts
from services.contacts.store import ContactsStore

ADMIN = Caller("usr_admin", "ADMIN", "acc_1", "s")
MANAGER = Caller("usr_manager", "MANAGER", "acc_1", "s")
OTHER_ADMIN = Caller("usr_other", "ADMIN", "acc_2", "s")
AGENT = Caller("usr_agent", "AGENT", "", "s")
ROOT = Caller("usr_root", "SUPPORT_ADMIN", "", "s")


def _values(n: int = 0, **extra) -> dict:
    return {"first_name": f"Ann{n}", "last_name": f"Lee{n:03d}", "email": f"ann{n}@acme.test", **extra}


def _events(contact: dict) -> list[str]:
    return [e["envelope"]["type"].split(".", 1)[1].rsplit(".v", 1)[0] for e in contact["_outbox"]]


@pytest.fixture
async def contacts(request):
    store = ContactsStore(connect("memory://", f"unit_contacts_{request.node.name[:40]}"))
    await store.ensure_indexes()
    return Contacts(store)


async def test_a_new_contact_is_invited_by_default_and_published_for_the_back_office(contacts):
    contact = await contacts.create_contact(ADMIN, "", _values())
    stored = await contacts.store.contacts.find_one({"_id": contact["_id"]})
    assert stored["portal_enabled"] and stored["portal_access_status"] == "NONE" and stored["sync_status"] == "PENDING"
    assert _events(stored) == ["contact.created", "contact.synced", "contact.portal_access_changed"]
    synced = stored["_outbox"][1]["envelope"]["data"]
    assert (
        synced["operation"] == "created" and synced["version"] == 1 and synced["contact"]["email"] == "ann0@acme.test"
    )
    opted_out = await contacts.create_contact(ADMIN, "", _values(1, portal_enabled=False))
    assert _events(await contacts.store.contacts.find_one({"_id": opted_out["_id"]})) == [
        "contact.created",
        "contact.synced",
    ]


async def test_only_the_accounts_admin_or_a_support_admin_manage_and_bad_input_changes_nothing(contacts):
    for caller in (MANAGER, AGENT, OTHER_ADMIN):
        with pytest.raises(Forbidden):
            await contacts.create_contact(caller, "acc_1", _values())
    with pytest.raises(InvalidInput):
        await contacts.create_contact(ROOT, "", _values())  # staff must name the account
    for bad in ({"email": "not-an-address"}, {"first_name": "  "}, {"title": "x" * 500}):
        with pytest.raises(InvalidInput):
            await contacts.create_contact(ADMIN, "", _values(**bad))
    await contacts.create_contact(ADMIN, "", _values())
    with pytest.raises(Conflict) as taken:
        await contacts.create_contact(ROOT, "acc_1", _values(first_name="Other", email="ANN0@acme.test"))
    assert taken.value.reason == "EMAIL_TAKEN"
    assert await contacts.store.contacts.count({}) == 1


async def test_portal_access_is_refused_while_the_provider_has_the_portal_off(contacts):
    await contacts.on_account_updated(Received("e1", _account(False), "2026-11-23T10:00:00.000Z"))
    with pytest.raises(FailedPrecondition) as refused:
        await contacts.create_contact(ADMIN, "", _values())
    assert refused.value.reason == "PORTAL_DISABLED_FOR_ACCOUNT"
    contact = await contacts.create_contact(ADMIN, "", _values(portal_enabled=False))
    with pytest.raises(FailedPrecondition):
        await contacts.set_portal_access(ADMIN, contact["_id"], True, "USER")
    # an older switch event arriving late changes nothing; a newer one turns it on
    await contacts.on_account_updated(Received("e0", _account(True), "2026-11-23T09:00:00.000Z"))
    assert not await contacts.store.portal_enabled("acc_1")
    await contacts.on_account_updated(Received("e2", _account(True), "2026-11-23T11:00:00.000Z"))
    enabled = await contacts.set_portal_access(ADMIN, contact["_id"], True, "MANAGER")
    assert enabled["portal_enabled"] and enabled["portal_role"] == "MANAGER" and enabled["sync_version"] == 2


def _account(enabled: bool) -> AccountUpdated:
    return AccountUpdated(account_id="acc_1", number="ACME-001", name="Acme", portal_enabled=enabled)


def _user_event(kind, contact_id: str, **extra):
    common = {"user_id": "usr_c", "account_id": "acc_1", "contact_id": contact_id}
    return kind(**common, **extra)


async def test_identity_events_move_portal_access_once_and_in_time_order(contacts):
    contact = await contacts.create_contact(ADMIN, "", _values())
    sent = _user_event(
        InvitationSent,
        contact["_id"],
        email="ann0@acme.test",
        role="USER",
        invitation_id="inv",
        expires_at="x",
        resend=False,
    )
    accepted = _user_event(InvitationAccepted, contact["_id"], invitation_id="inv")
    gone = _user_event(UserDeactivated, contact["_id"], reason="portal access disabled")
    await contacts.on_identity_event(Received("ev-sent", sent, "2026-11-23T10:00:00.000Z"))
    after_sent = await contacts.store.get_contact(contact["_id"])
    assert (after_sent["portal_access_status"], after_sent["user_id"], after_sent["is_user"]) == (
        "INVITED",
        "usr_c",
        True,
    )
    await contacts.on_identity_event(Received("ev-accepted", accepted, "2026-11-23T10:05:00.000Z"))
    await contacts.on_identity_event(Received("ev-sent", sent, "2026-11-23T10:00:00.000Z"))  # redelivered late
    active = await contacts.store.get_contact(contact["_id"])
    assert active["portal_access_status"] == "ACTIVE"
    assert _events(active).count("contact.synced") == 3  # created, invited, active: one each
    await contacts.on_identity_event(Received("ev-gone", gone, "2026-11-23T11:00:00.000Z"))
    assert (await contacts.store.get_contact(contact["_id"]))["portal_access_status"] == "DISABLED"


async def test_back_office_upserts_are_idempotent_and_portal_edits_keep_the_external_id(contacts):
    row = {"account_id": "acc_1", "external_id": "BO-7", **_values(7)}
    first = await contacts.upsert_external(ROOT, [row])
    again = await contacts.upsert_external(ADMIN, [row])
    assert first[0]["_id"] == again[0]["_id"] and await contacts.store.contacts.count({}) == 1
    stored = await contacts.store.get_contact(first[0]["_id"])
    assert _events(stored) == ["contact.created", "contact.synced"] and not stored["portal_enabled"]
    edited = await contacts.update_contact(ADMIN, stored["_id"], {"title": "CFO"})
    assert edited["external_id"] == "BO-7" and edited["sync_version"] == 2
    moved = await contacts.upsert_external(ROOT, [{**row, "last_name": "Moved"}])
    assert moved[0]["last_name"] == "Moved" and moved[0]["title"] == "CFO" and moved[0]["sync_version"] == 3
    with pytest.raises(Forbidden):
        await contacts.upsert_external(OTHER_ADMIN, [row])


async def test_deleting_publishes_the_tombstone_and_frees_the_address(contacts):
    contact = await contacts.create_contact(ADMIN, "", _values())
    assert await contacts.delete_contact(ADMIN, contact["_id"])
    tomb = await contacts.store.contacts.find_one({"_id": contact["_id"]})
    assert _events(tomb)[-2:] == ["contact.deleted", "contact.synced"]
    assert tomb["_outbox"][-1]["envelope"]["data"]["operation"] == "deleted"
    assert await contacts.get_contacts(ADMIN, [contact["_id"]]) == []
    again = await contacts.create_contact(ADMIN, "", _values())
    assert again["_id"] != contact["_id"]


async def test_filters_orders_and_pages_over_a_few_hundred_contacts(contacts):
    for n in range(240):
        title = "Chief Buyer" if n % 8 == 0 else "Engineer"
        await contacts.create_contact(
            ADMIN, "", _values(n, title=title, phone=f"+1 555 {n:04d}", portal_enabled=n % 2 == 0)
        )
    await contacts.create_contact(ROOT, "acc_2", _values(999, title="Chief Buyer"))

    async def all_pages(**kwargs):
        seen, token = [], ""
        while True:
            page = await contacts.list_contacts(
                ADMIN, "", kwargs.get("filters", {}), kwargs.get("order", ""), 50, token
            )
            seen += page.docs
            token = page.next_token
            if not token:
                return seen, page.total

    buyers, total = await all_pages(filters={"title": "chief"})
    assert total == 30 and len(buyers) == 30 and all(c["account_id"] == "acc_1" for c in buyers)
    assert [c["last_name"] for c in buyers] == sorted(c["last_name"] for c in buyers)
    by_email, total = await all_pages(order="EMAIL_ASC", filters={"portal_enabled": True, "search": "555 01"})
    assert total == len(by_email) == 50 and [c["email"] for c in by_email] == sorted(c["email"] for c in by_email)
    desc, _ = await all_pages(order="NAME_DESC", filters={"name": "ANN1"})
    assert [c["name_key"] for c in desc] == sorted((c["name_key"] for c in desc), reverse=True) and len(desc) == 111
    with pytest.raises(Forbidden):
        await contacts.list_contacts(MANAGER, "", {}, "", 10, "")
    agent_view = await contacts.list_contacts(AGENT, "acc_2", {}, "", 10, "")
    assert agent_view.total == 1

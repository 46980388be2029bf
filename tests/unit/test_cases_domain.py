"""The cases domain without a server: numbers, ref tags, visibility, status moves, internal notes, the
outbox entries (events and mails) each change writes with it, attachments, tickets and consumers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from email import message_from_string
from email.policy import default
from typing import Any

import pytest

from portalkit.auth import Caller
from portalkit.catalog import AccountUpdated, UserActivated, UserDeactivated
from portalkit.clock import ManualClock
from portalkit.consumers import Received
from portalkit.errors import FailedPrecondition, Forbidden, InvalidInput, NotFound
from portalkit.mongo import connect
from services.cases import rules
from services.cases.domain import Cases, Person, Upload
from services.cases.store import CasesStore

USER = Caller("usr_u", "USER", "acc_1", "s")
COLLEAGUE = Caller("usr_c", "USER", "acc_1", "s")
MANAGER = Caller("usr_m", "MANAGER", "acc_1", "s")
ADMIN = Caller("usr_a", "ADMIN", "acc_1", "s")
OTHER = Caller("usr_o", "ADMIN", "acc_2", "s")
AGENT = Caller("usr_g", "AGENT", "", "s", "CUSTOMER_CARE")
CSM = Caller("usr_csm", "SUPPORT_ADMIN", "", "s")
PEOPLE = {
    c.user_id: Person(c.user_id, f"{c.user_id}@x.test", c.user_id, c.role, True, c.team, c.account_id, True)
    for c in (USER, COLLEAGUE, MANAGER, ADMIN, OTHER, AGENT, CSM)
}


class Directory:
    """identity as the domain sees it; `known` can be changed by a test."""

    def __init__(self) -> None:
        self.known = dict(PEOPLE)

    async def people(self, user_ids: list[str], token: str) -> dict[str, Person]:
        return {i: self.known[i] for i in user_ids if i in self.known}


DIRECTORIES: dict[int, Directory] = {}


async def domain() -> Cases:
    store = CasesStore(connect("memory://", f"unit_cases_{uuid.uuid4().hex[:8]}"))
    await store.ensure_indexes()
    directory = Directory()
    cases = Cases(store, ManualClock(), directory, secret="s3cret")
    DIRECTORIES[id(cases)] = directory
    return cases


def values(**extra: Any) -> dict[str, Any]:
    return {"subject": "Checkout fails", "description": "An error at checkout.", **extra}


async def outbox(cases: Cases, case_id: str) -> list[dict[str, Any]]:
    doc = await cases.store.cases.find_one({"_id": case_id})
    assert doc is not None
    return list(doc["_outbox"])


def event_types(entries: list[dict[str, Any]]) -> list[str]:
    return [e["envelope"]["type"] for e in entries if e["kind"] == "event"]


def mails(entries: list[dict[str, Any]]) -> list[Any]:
    return [message_from_string(e["mail"]["raw"], policy=default) for e in entries if e["kind"] == "mail"]


async def test_numbers_are_distinct_and_consecutive_under_concurrency():
    cases = await domain()
    made = await asyncio.gather(*(cases.create_case(USER, values()) for _ in range(40)))
    numbers = sorted(int(c["number"]) for c in made)
    assert numbers == list(range(rules.FIRST_CASE_NUMBER + 1, rules.FIRST_CASE_NUMBER + 41))


async def test_a_new_case_writes_its_event_and_autoreply_with_it():
    cases = await domain()
    case = await cases.create_case(USER, values(priority="HIGH", account_numbers=["1", "1", " 2 "]))
    assert (case["status"], case["team"], case["priority"], case["account_numbers"]) == (
        "NEW",
        "CUSTOMER_CARE",
        "HIGH",
        ["1", "2"],
    )
    assert rules.ref_tag_valid("s3cret", case["ref_tag"], case["_id"], case["number"])
    entries = await outbox(cases, case["_id"])
    assert event_types(entries) == ["portal.case.created.v1"]
    (autoreply,) = mails(entries)
    assert autoreply["To"] == "usr_u@x.test" and case["number"] in autoreply["Subject"]
    assert case["ref_tag"] in autoreply["Subject"] and autoreply["Auto-Submitted"] == "auto-replied"


async def test_visibility_follows_the_roles_matrix():
    cases = await domain()
    mine = await cases.create_case(USER, values())
    theirs = await cases.create_case(COLLEAGUE, values())
    other = await cases.create_case(OTHER, values())

    async def listed(caller: Caller) -> set[str]:
        return {d["_id"] for d in (await cases.list_cases(caller, {}, "", 100, "")).docs}

    assert await listed(USER) == {mine["_id"]}
    assert await listed(MANAGER) == await listed(ADMIN) == {mine["_id"], theirs["_id"]}
    assert await listed(OTHER) == {other["_id"]}
    assert await listed(AGENT) == {mine["_id"], theirs["_id"], other["_id"]}
    with pytest.raises(NotFound):
        await cases.case_by_number(USER, theirs["number"])
    with pytest.raises(Forbidden):
        await cases.create_case(AGENT, values())
    with pytest.raises(Forbidden):
        await cases.list_cases(USER, {"unlinked": True}, "", 10, "")


async def test_internal_notes_are_for_staff_and_stay_out_of_customer_mail():
    cases = await domain()
    case = await cases.create_case(USER, values())
    with pytest.raises(Forbidden):
        await cases.add_comment(USER, case["_id"], "psst", internal=True)
    await cases.add_comment(AGENT, case["_id"], "secret note", internal=True)
    await cases.add_comment(AGENT, case["_id"], "the answer")
    customer_view = (await cases.comment_pages(USER, [case["_id"]], 50, ""))[0]
    staff_view = (await cases.comment_pages(AGENT, [case["_id"]], 50, ""))[0]
    assert [c["body"] for c in customer_view.comments] == ["the answer"] and customer_view.total == 1
    assert [c["body"] for c in staff_view.comments] == ["secret note", "the answer"]
    entries = await outbox(cases, case["_id"])
    assert all("secret note" not in str(e) for e in entries if e["kind"] == "event")
    sent = mails(entries)
    assert [m["To"] for m in sent if "New reply" in m["Subject"]] == ["usr_u@x.test"]
    assert all("secret note" not in m.get_body().get_content() for m in sent)


async def test_status_moves():
    cases = await domain()
    case = await cases.create_case(USER, values())
    with pytest.raises(Forbidden):
        await cases.set_status(USER, case["_id"], "OPEN")
    with pytest.raises(InvalidInput):
        await cases.set_status(AGENT, case["_id"], "DONE")
    for waiting in ("PENDING_CUSTOMER", "SOLVED"):
        await cases.set_status(AGENT, case["_id"], waiting)
        _, after = await cases.add_comment(MANAGER, case["_id"], "more info")
        assert after["status"] == "OPEN"
    await cases.set_status(AGENT, case["_id"], "ON_HOLD")
    _, held = await cases.add_comment(USER, case["_id"], "any news?")
    assert held["status"] == "ON_HOLD"
    closed = await cases.close_case(USER, case["_id"])
    assert closed["status"] == "CLOSED" and closed["closed_at"] is not None
    for attempt in (
        cases.add_comment(USER, case["_id"], "again"),
        cases.set_status(AGENT, case["_id"], "OPEN"),
        cases.update_case(USER, case["_id"], {"subject": "x"}),
        cases.close_case(USER, case["_id"]),
    ):
        with pytest.raises(FailedPrecondition) as refused:
            await attempt
        assert refused.value.reason == "CASE_CLOSED"
    types = event_types(await outbox(cases, case["_id"]))
    assert types.count("portal.case.closed.v1") == 1 and "portal.case.status_changed.v1" in types


async def test_status_mail_follows_the_preference_and_never_the_actor():
    cases = await domain()
    case = await cases.create_case(USER, values())
    await cases.set_status(AGENT, case["_id"], "PENDING_CUSTOMER")
    known = DIRECTORIES[id(cases)].known
    known["usr_u"] = Person("usr_u", "usr_u@x.test", "U", "USER", True, case_updates=False)
    await cases.set_status(AGENT, case["_id"], "ON_HOLD")
    known["usr_u"] = PEOPLE["usr_u"]
    await cases.close_case(USER, case["_id"])  # their own move
    subjects = [m["Subject"] for m in mails(await outbox(cases, case["_id"]))]
    assert [s for s in subjects if "Status" in s] == [next(s for s in subjects if "Status Pending Customer" in s)]


async def test_routing_to_client_success_uses_the_account_copy_and_events_apply_once():
    cases = await domain()
    case = await cases.create_case(USER, values())
    routed = await cases.assign(AGENT, case["_id"], "CLIENT_SUCCESS", "")
    assert routed["assignee_id"] == ""
    event = AccountUpdated(
        account_id="acc_1", number="A-1", name="A", portal_enabled=True, client_success_manager_id=CSM.user_id
    )
    later = Received("e1", event, "2026-11-23T10:00:00.000Z")
    await cases.on_account_updated(later)
    await cases.on_account_updated(later)  # redelivered
    older = Received("e0", event.model_copy(update={"client_success_manager_id": None}), "2026-11-23T09:00:00.000Z")
    await cases.on_account_updated(older)  # late: changes nothing
    assert await cases.store.client_success_manager("acc_1") == CSM.user_id
    await cases.assign(AGENT, case["_id"], "TIER2", "")
    routed = await cases.assign(AGENT, case["_id"], "CLIENT_SUCCESS", "")
    assert (routed["team"], routed["assignee_id"], routed["assignee_email"]) == (
        "CLIENT_SUCCESS",
        CSM.user_id,
        "usr_csm@x.test",
    )
    with pytest.raises(InvalidInput):
        await cases.assign(AGENT, case["_id"], "", USER.user_id)  # not staff


async def test_requester_state_follows_user_events():
    cases = await domain()
    off = Received("d1", UserDeactivated(user_id="usr_u", account_id="acc_1", reason="x"), "2026-11-23T10:00:00.000Z")
    on = Received(
        "a1", UserActivated(user_id="usr_u", account_id="acc_1", email="u@x", role="USER"), "2026-11-23T11:00:00.000Z"
    )
    await cases.on_user_state(off)
    assert not await cases.store.user_active("usr_u")
    await cases.on_user_state(on)
    await cases.on_user_state(off)  # redelivered late: no effect
    assert await cases.store.user_active("usr_u")


def test_attachment_checks():
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 10
    assert rules.check_attachments([("C:\\tmp\\a.PNG", "whatever", png)]) == [("a.PNG", "image/png", png)]
    for files, reason in (
        ([("a.exe", "", b"MZ")], "ATTACHMENT_TYPE_NOT_ALLOWED"),
        ([("a.png", "image/png", b"GIF89a")], "ATTACHMENT_TYPE_NOT_ALLOWED"),
        ([("a.txt", "", b"\xff\xfe\x00")], "ATTACHMENT_TYPE_NOT_ALLOWED"),
        ([("a.txt", "", b"x" * (rules.MAX_ATTACHMENT_BYTES + 1))], "ATTACHMENT_TOO_LARGE"),
        ([("a.txt", "", b"x")] * (rules.MAX_ATTACHMENTS + 1), "TOO_MANY_ATTACHMENTS"),
    ):
        with pytest.raises(InvalidInput) as refused:
            rules.check_attachments(files)
        assert refused.value.reason == reason


async def test_download_tickets_are_bound_to_the_viewer_and_expire():
    cases = await domain()
    case = await cases.create_case(USER, values(), uploads=[Upload("log.txt", "text/plain", b"hello")])
    attachment_id = case["attachments"][0]["_id"]
    ticket = cases.ticket(USER, attachment_id)
    assert (await cases.download(USER, attachment_id, ticket))["content"] == b"hello"
    with pytest.raises(Forbidden):
        await cases.download(MANAGER, attachment_id, ticket)  # may see the case, but not their ticket
    with pytest.raises(NotFound):
        await cases.download(OTHER, attachment_id, cases.ticket(OTHER, attachment_id))
    assert isinstance(cases.clock, ManualClock)
    cases.clock.advance(timedelta(seconds=rules.TICKET_SECONDS + 1))
    with pytest.raises(FailedPrecondition):
        await cases.download(USER, attachment_id, ticket)


def test_ref_tags_cannot_be_forged():
    tag = rules.ref_tag("s3cret", "cas_1", "00100001")
    assert rules.ref_tag_valid("s3cret", tag, "cas_1", "00100001")
    assert not rules.ref_tag_valid("guess", tag, "cas_1", "00100001")
    assert not rules.ref_tag_valid("s3cret", tag, "cas_2", "00100001")
    assert tag != rules.ref_tag("s3cret", "cas_1", "00100002")


async def test_concurrent_comments_on_one_case_are_all_kept():
    cases = await domain()
    case = await cases.create_case(USER, values())
    await asyncio.gather(*(cases.add_comment(USER, case["_id"], f"comment {i}") for i in range(10)))
    page = (await cases.comment_pages(USER, [case["_id"]], 50, ""))[0]
    assert sorted(c["body"] for c in page.comments) == sorted(f"comment {i}" for i in range(10))
    stored = await cases.store.get_case(case["_id"])
    assert stored is not None and stored["comment_count"] == 10 and stored["version"] == 11

"""Working on cases end to end (design.md 4, 5.7; issue 11): comments and internal notes (never to
customers: not by query, email or event), status moves, triage and routing to the account's Client
Success Manager, customers' updates and closing, the mails each step sends, and requester state."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aio_pika

from portalkit.catalog import AccountUpdated
from portalkit.events import CONTENT_TYPE, EXCHANGE, new_envelope
from tests.e2e.test_cases import create
from tests.support.events import tap
from tests.support.graphql import code_of
from tests.support.mailbox import body_of
from tests.support.people import PASSWORD, fresh_email, invitation_token, new_person
from tests.support.settle import outbox_drained, until

COMMENT = """mutation($id: ID!, $b: String!, $i: Boolean) { addCaseComment(caseId: $id, body: $b, internal: $i) {
  id body internal authorEmail channel author { email } } }"""
COMMENTS = """query($id: ID, $first: Int, $after: String) { case(id: $id) { status
  comments(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id body internal authorEmail } } } } }"""
STATUS = "mutation($id: ID!, $s: CaseStatus!) { setCaseStatus(id: $id, status: $s) { id status closedAt } }"
ASSIGN = """mutation($id: ID!, $t: SupportTeam, $a: ID) { assignCase(id: $id, team: $t, assigneeId: $a) {
  id team assignee { id email } } }"""
CLOSE = "mutation($id: ID!) { closeCase(id: $id) { id status closedAt } }"
UPDATE = """mutation($id: ID!, $i: UpdateCaseInput!) { updateCase(id: $id, input: $i) {
  id subject priority environment accountNumbers product } }"""
PREFS = "mutation($i: EmailPreferencesInput!) { updateEmailPreferences(input: $i) { caseUpdates } }"
DEACTIVATE = "mutation($id: ID!) { deactivateUser(userId: $id) { id status } }"
ME = "{ me { id email } }"


def _mails(mailbox, address: str, text: str) -> list:
    return [m for m in mailbox.to(address) if text in str(m["Subject"]) or text in body_of(m)]


async def _mail_with(mailbox, address: str, text: str) -> Any:
    """The first mail to `address` with `text` in its subject or body, once it arrived."""

    async def arrived() -> bool:
        return bool(_mails(mailbox, address, text))

    await until(arrived, f"a mail to {address} with {text!r}")
    return _mails(mailbox, address, text)[0]


async def test_internal_notes_reach_staff_only_and_a_public_answer_is_mailed(
    gql, tokens, mailbox, direct_amqp_url, stack
):
    admin = await tokens("admin@acme.test")
    person = await new_person(gql, mailbox, admin)
    case = await create(gql, person.access_token)
    agent = await tokens("agent@support.test")
    secret = f"note-{uuid.uuid4().hex}"
    answer = f"answer-{uuid.uuid4().hex}"
    async with tap(direct_amqp_url, ["#"]) as partner:
        note = (await gql.ok(COMMENT, {"id": case["id"], "b": secret, "i": True}, token=agent))["addCaseComment"]
        reply = (await gql.ok(COMMENT, {"id": case["id"], "b": answer}, token=agent))["addCaseComment"]
        assert note["internal"] and not reply["internal"] and reply["authorEmail"] == "agent@support.test"
        assert reply["author"]["email"] == "agent@support.test" and reply["channel"] == "WEB"
        # the answer is mailed to the requester, whatever their preferences
        mail = (await mailbox.wait_for(person.email, case["refTag"], count=2))[-1]
        assert answer in body_of(mail) and case["number"] in mail["Subject"]
        events = [
            await partner.wait_for("case.comment_added", lambda e, c=c: e["data"]["commentId"] == c["id"])
            for c in (note, reply)
        ]
        await outbox_drained(stack.services["cases"].store)
        await partner.settle()
    assert [e["data"]["internal"] for e in events] == [True, False]
    assert all(secret not in json.dumps(e) for e in partner.events)  # no event carries a note's text
    assert not [m for m in mailbox.messages if secret in body_of(m) or secret in str(m["Subject"])]
    # customers of the account see the answer only; staff see both
    for token in (person.access_token, admin, await tokens("manager@acme.test")):
        comments = (await gql.ok(COMMENTS, {"id": case["id"]}, token=token))["case"]["comments"]
        assert [e["node"]["body"] for e in comments["edges"]] == [answer] and comments["totalCount"] == 1
    staff = (await gql.ok(COMMENTS, {"id": case["id"]}, token=agent))["case"]["comments"]
    assert [e["node"]["body"] for e in staff["edges"]] == [secret, answer] and staff["totalCount"] == 2
    refused = await gql.error(COMMENT, {"id": case["id"], "b": "psst", "i": True}, token=person.access_token)
    assert code_of(refused) == "FORBIDDEN"


async def test_comment_paging(gql, tokens):
    user = await tokens("user@acme.test")
    case = await create(gql, user)
    for i in range(7):
        await gql.ok(COMMENT, {"id": case["id"], "b": f"comment {i}"}, token=user)
    bodies, after = [], None
    while True:
        page = (await gql.ok(COMMENTS, {"id": case["id"], "first": 3, "after": after}, token=user))["case"]["comments"]
        bodies += [e["node"]["body"] for e in page["edges"]]
        assert page["totalCount"] == 7
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert bodies == [f"comment {i}" for i in range(7)]
    assert code_of(await gql.error(COMMENTS, {"id": case["id"], "after": "bogus"}, token=user)) == "BAD_USER_INPUT"


async def test_a_customer_comment_reopens_a_waiting_or_solved_case_and_alerts_the_assignee_or_team(
    gql, tokens, mailbox, direct_amqp_url
):
    user = await tokens("user@acme.test")
    agent = await tokens("agent@support.test")
    agent_id = (await gql.ok(ME, token=agent))["me"]["id"]
    case = await create(gql, user)
    # unassigned: the team's queue hears of the comment; a NEW case stays NEW
    first = f"first-{uuid.uuid4().hex[:8]}"
    await gql.ok(COMMENT, {"id": case["id"], "b": first}, token=user)
    alert = await _mail_with(mailbox, "customer-care@support.test", first)
    assert case["refTag"] in alert["Subject"]
    assert (await gql.ok(COMMENTS, {"id": case["id"]}, token=user))["case"]["status"] == "NEW"
    await gql.ok(ASSIGN, {"id": case["id"], "a": agent_id}, token=agent)
    async with tap(direct_amqp_url, ["case.status_changed"]) as partner:
        for waiting in ("PENDING_CUSTOMER", "SOLVED"):
            await gql.ok(STATUS, {"id": case["id"], "s": waiting}, token=agent)
            text = f"reply-{uuid.uuid4().hex[:8]}"
            await gql.ok(COMMENT, {"id": case["id"], "b": text}, token=user)
            assert (await gql.ok(COMMENTS, {"id": case["id"]}, token=user))["case"]["status"] == "OPEN"
            await partner.wait_for(
                "case.status_changed",
                lambda e, w=waiting: (
                    e["data"]["caseId"] == case["id"]
                    and e["data"]["oldStatus"] == w
                    and e["data"]["newStatus"] == "OPEN"
                ),
            )
            # assigned: the agent hears of it
            assert case["refTag"] in (await _mail_with(mailbox, "agent@support.test", text))["Subject"]
    # a staff comment or a note does not reopen
    await gql.ok(STATUS, {"id": case["id"], "s": "PENDING_CUSTOMER"}, token=agent)
    await gql.ok(COMMENT, {"id": case["id"], "b": "note", "i": True}, token=agent)
    await gql.ok(COMMENT, {"id": case["id"], "b": "please reply"}, token=agent)
    assert (await gql.ok(COMMENTS, {"id": case["id"]}, token=user))["case"]["status"] == "PENDING_CUSTOMER"


async def test_closed_is_final_and_says_to_open_a_new_case(gql, tokens, direct_amqp_url):
    manager = await tokens("manager@acme.test")
    user = await tokens("user@acme.test")
    case = await create(gql, user)
    async with tap(direct_amqp_url, ["case.*"]) as partner:
        closed = (await gql.ok(CLOSE, {"id": case["id"]}, token=manager))["closeCase"]  # a MANAGER of the account
        assert closed["status"] == "CLOSED" and closed["closedAt"]
        event = await partner.wait_for("case.closed", lambda e: e["data"]["caseId"] == case["id"])
        changed = await partner.wait_for("case.status_changed", lambda e: e["data"]["caseId"] == case["id"])
    assert event["data"]["closedAt"] and (changed["data"]["oldStatus"], changed["data"]["newStatus"]) == (
        "NEW",
        "CLOSED",
    )
    agent = await tokens("agent@support.test")
    attempts = [
        (COMMENT, {"id": case["id"], "b": "it happened again"}, user),
        (COMMENT, {"id": case["id"], "b": "internal", "i": True}, agent),
        (UPDATE, {"id": case["id"], "i": {"subject": "new subject"}}, user),
        (STATUS, {"id": case["id"], "s": "OPEN"}, agent),
        (CLOSE, {"id": case["id"]}, user),
        (ASSIGN, {"id": case["id"], "t": "TIER2"}, agent),
    ]
    for query, variables, token in attempts:
        refused = await gql.error(query, variables, token=token)
        assert (code_of(refused), refused["extensions"]["reason"]) == ("FAILED_PRECONDITION", "CASE_CLOSED")
        assert "new case" in refused["message"] and case["number"] in refused["message"]
    # the way forward: a new case that references it
    follow_up = await create(gql, user, relatedCaseNumber=case["number"])
    assert follow_up["relatedCase"]["number"] == case["number"]


async def test_staff_triage_and_who_may_do_what(gql, tokens, direct_amqp_url):
    user = await tokens("user@acme.test")
    case = await create(gql, user)
    assert case["team"] == "CUSTOMER_CARE" and case["assignee"] is None
    for email in ("user@acme.test", "manager@acme.test", "admin@acme.test"):
        token = await tokens(email)
        assert code_of(await gql.error(STATUS, {"id": case["id"], "s": "OPEN"}, token=token)) == "FORBIDDEN"
        assert code_of(await gql.error(ASSIGN, {"id": case["id"], "t": "TIER2"}, token=token)) == "FORBIDDEN"
    globex = await tokens("admin@globex.test")
    for query, variables in (
        (COMMENT, {"id": case["id"], "b": "hello"}),
        (CLOSE, {"id": case["id"]}),
        (UPDATE, {"id": case["id"], "i": {"priority": "LOW"}}),
    ):
        assert code_of(await gql.error(query, variables, token=globex)) == "NOT_FOUND"
    agent = await tokens("agent@support.test")
    root = await tokens("root@support.test")
    root_id = (await gql.ok(ME, token=root))["me"]["id"]
    async with tap(direct_amqp_url, ["case.updated", "case.status_changed"]) as partner:
        routed = (await gql.ok(ASSIGN, {"id": case["id"], "t": "PRODUCT_SUPPORT", "a": root_id}, token=agent))[
            "assignCase"
        ]
        assert routed["team"] == "PRODUCT_SUPPORT" and routed["assignee"]["id"] == root_id
        updated = await partner.wait_for("case.updated", lambda e: e["data"]["caseId"] == case["id"])
        assert sorted(updated["data"]["changed"]) == ["assignee", "team"]
        to_team = (await gql.ok(ASSIGN, {"id": case["id"], "t": "TIER2"}, token=agent))["assignCase"]
        assert to_team["team"] == "TIER2" and to_team["assignee"] is None  # to the team's queue
        for status in ("OPEN", "ON_HOLD", "PENDING_CUSTOMER", "SOLVED", "OPEN"):
            assert (await gql.ok(STATUS, {"id": case["id"], "s": status}, token=agent))["setCaseStatus"][
                "status"
            ] == status
        moved = await partner.wait_for(
            "case.status_changed", lambda e: e["data"]["caseId"] == case["id"] and e["data"]["oldStatus"] == "SOLVED"
        )
        assert moved["data"]["newStatus"] == "OPEN"
    customer_id = (await gql.ok(ME, token=user))["me"]["id"]
    refused = await gql.error(ASSIGN, {"id": case["id"], "a": customer_id}, token=agent)
    assert (code_of(refused), refused["extensions"]["reason"]) == ("BAD_USER_INPUT", "ASSIGNEE_NOT_STAFF")
    assert code_of(await gql.error(ASSIGN, {"id": case["id"]}, token=agent)) == "BAD_USER_INPUT"


async def test_customers_update_their_open_cases(gql, tokens, direct_amqp_url, mailbox):
    admin = await tokens("admin@acme.test")
    person = await new_person(gql, mailbox, admin)
    case = await create(gql, person.access_token)
    changes = {"subject": "Checkout fails for AMEX", "priority": "HIGH", "environment": "PRODUCTION"}
    async with tap(direct_amqp_url, ["case.updated"]) as partner:
        updated = (await gql.ok(UPDATE, {"id": case["id"], "i": changes}, token=person.access_token))["updateCase"]
        event = await partner.wait_for("case.updated", lambda e: e["data"]["caseId"] == case["id"])
    assert (updated["subject"], updated["priority"], updated["environment"]) == (
        "Checkout fails for AMEX",
        "HIGH",
        "PRODUCTION",
    )
    assert sorted(event["data"]["changed"]) == ["environment", "priority", "subject"]
    more = {"accountNumbers": ["1", "2"], "product": "Gateway"}
    assert (await gql.ok(UPDATE, {"id": case["id"], "i": more}, token=admin))["updateCase"]["accountNumbers"] == [
        "1",
        "2",
    ]
    user = await tokens("user@acme.test")  # a USER, not the requester
    assert code_of(await gql.error(UPDATE, {"id": case["id"], "i": {"priority": "LOW"}}, token=user)) == "NOT_FOUND"
    refused = await gql.error(UPDATE, {"id": case["id"], "i": {"subject": " "}}, token=person.access_token)
    assert code_of(refused) == "BAD_USER_INPUT"


async def test_status_changes_are_mailed_per_the_requesters_preference(gql, tokens, mailbox, stack):
    admin = await tokens("admin@acme.test")
    person = await new_person(gql, mailbox, admin)
    case = await create(gql, person.access_token)
    agent = await tokens("agent@support.test")
    await gql.ok(STATUS, {"id": case["id"], "s": "PENDING_CUSTOMER"}, token=agent)
    notice = (await mailbox.wait_for(person.email, "Status Pending Customer"))[0]
    assert case["refTag"] in notice["Subject"] and notice["Auto-Submitted"] == "auto-generated"
    assert (await gql.ok(PREFS, {"i": {"caseUpdates": False}}, token=person.access_token))["updateEmailPreferences"][
        "caseUpdates"
    ] is False
    await gql.ok(STATUS, {"id": case["id"], "s": "ON_HOLD"}, token=agent)
    # an answer still goes out (the marker that the relay is past the status change)
    marker = f"answer-{uuid.uuid4().hex[:8]}"
    await gql.ok(COMMENT, {"id": case["id"], "b": marker}, token=agent)
    await mailbox.wait_for(person.email, "New reply")
    await outbox_drained(stack.services["cases"].store)
    assert not _mails(mailbox, person.email, "Status On Hold")
    # their own move is never mailed back to them
    await gql.ok(PREFS, {"i": {"caseUpdates": True}}, token=person.access_token)
    await gql.ok(CLOSE, {"id": case["id"]}, token=person.access_token)
    await outbox_drained(stack.services["cases"].store)
    assert not _mails(mailbox, person.email, "Status Closed")


async def _publish(amqp_url: str, envelope: dict[str, Any]) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        message = aio_pika.Message(
            json.dumps(envelope).encode(), message_id=envelope["id"], type=envelope["type"], content_type=CONTENT_TYPE
        )
        await exchange.publish(message, routing_key=envelope["type"].removeprefix("portal.").rsplit(".v", 1)[0])
    finally:
        await connection.close()


async def test_client_success_routing_goes_to_the_accounts_manager_from_account_updated(
    gql, tokens, mailbox, direct_amqp_url, stack
):
    """identity publishes the account's Client Success Manager in account.updated (its side comes with
    identity's own change); here the event is published as identity would, and cases routes by it."""
    root = await tokens("root@support.test")
    number = f"CS-{uuid.uuid4().hex[:6]}".upper()
    admin_email = fresh_email("boss", "initech.test")
    account = (
        await gql.ok(
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id number name } }",
            {"i": {"name": "Initech", "number": number, "adminEmail": admin_email, "adminName": "Bill L"}},
            token=root,
        )
    )["createAccount"]
    token = await invitation_token(mailbox, admin_email)
    boss = (
        await gql.ok(
            "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { accessToken } }",
            {"t": token, "p": PASSWORD},
        )
    )["acceptInvitation"]["accessToken"]
    case = await create(gql, boss)
    agent = await tokens("agent@support.test")
    # before identity said who the manager is: CLIENT_SUCCESS without an agent is the team's queue
    queued = (await gql.ok(ASSIGN, {"id": case["id"], "t": "CLIENT_SUCCESS"}, token=agent))["assignCase"]
    assert queued["team"] == "CLIENT_SUCCESS" and queued["assignee"] is None
    root_id = (await gql.ok(ME, token=root))["me"]["id"]
    event = AccountUpdated(
        account_id=account["id"], number=number, name="Initech", portal_enabled=True, client_success_manager_id=root_id
    )
    envelope = new_envelope(event)
    await _publish(direct_amqp_url, envelope)
    await _publish(direct_amqp_url, envelope)  # a redelivery changes nothing
    store = stack.services["cases"].store

    async def heard() -> bool:
        return await store.client_success_manager(account["id"]) == root_id

    await until(heard, "cases heard the account's Client Success Manager")
    await gql.ok(ASSIGN, {"id": case["id"], "t": "TIER2"}, token=agent)
    routed = (await gql.ok(ASSIGN, {"id": case["id"], "t": "CLIENT_SUCCESS"}, token=agent))["assignCase"]
    assert routed["team"] == "CLIENT_SUCCESS" and routed["assignee"]["id"] == root_id
    # an explicit agent wins over the manager
    agent_id = (await gql.ok(ME, token=agent))["me"]["id"]
    chosen = (await gql.ok(ASSIGN, {"id": case["id"], "t": "CLIENT_SUCCESS", "a": agent_id}, token=agent))["assignCase"]
    assert chosen["assignee"]["id"] == agent_id


async def test_a_deactivated_requester_gets_no_more_case_mail_and_their_cases_stay_with_the_account(
    gql, tokens, mailbox, stack
):
    admin = await tokens("admin@acme.test")
    person = await new_person(gql, mailbox, admin)
    case = await create(gql, person.access_token)
    assert (await gql.ok(DEACTIVATE, {"id": person.id}, token=admin))["deactivateUser"]["status"] == "INACTIVE"
    store = stack.services["cases"].store

    async def heard() -> bool:
        return not await store.user_active(person.id)

    await until(heard, "cases heard user.deactivated")
    agent = await tokens("agent@support.test")
    text = f"answer-{uuid.uuid4().hex[:8]}"
    await gql.ok(COMMENT, {"id": case["id"], "b": text}, token=agent)
    await gql.ok(STATUS, {"id": case["id"], "s": "SOLVED"}, token=agent)
    await outbox_drained(stack.services["cases"].store)
    assert not _mails(mailbox, person.email, text) and not _mails(mailbox, person.email, "Status Solved")
    seen = (await gql.ok(COMMENTS, {"id": case["id"]}, token=await tokens("manager@acme.test")))["case"]
    assert seen["status"] == "SOLVED" and [e["node"]["body"] for e in seen["comments"]["edges"]] == [text]

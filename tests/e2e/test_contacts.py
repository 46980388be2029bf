"""Contacts end to end through the gateway (design.md 5.1-5.3, issue 10): the portal-access
choreography purely through events (contacts -> identity -> contacts), the back office's view,
the roles matrix, filters and paging, and bad input changing nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry.trace import SpanKind

from tests.support.events import tap
from tests.support.graphql import code_of
from tests.support.mailbox import token_from
from tests.support.settle import until

CONTACT_FIELDS = """id firstName lastName email phone title isPrimary portalEnabled portalAccessStatus isUser
  externalId syncStatus lastSyncedAt account { number }
  user { id email status lastLoginAt invitation { status resendCount } }"""
CREATE = f"mutation($i: CreateContactInput!) {{ createContact(input: $i) {{ {CONTACT_FIELDS} }} }}"
CONTACT = f"query($id: ID!) {{ contact(id: $id) {{ {CONTACT_FIELDS} }} }}"
SET_ACCESS = "mutation($id: ID!, $on: Boolean!) { setContactPortalAccess(id: $id, enabled: $on) { portalEnabled } }"
DELETE = "mutation($id: ID!) { deleteContact(id: $id) }"
UPDATE = "mutation($id: ID!, $i: UpdateContactInput!) { updateContact(id: $id, input: $i) { id title email } }"
ACCEPT = "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { accessToken } }"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"
RESEND = "mutation($id: ID!) { resendInvitation(userId: $id) { resendCount status } }"
UPSERT = """mutation($rows: [ExternalContactInput!]!) { upsertExternalContacts(input: $rows) {
  id externalId lastName portalEnabled } }"""
LIST = """query($account: ID, $filter: ContactFilter, $order: ContactOrder, $first: Int, $after: String) {
  contacts(accountId: $account, filter: $filter, orderBy: $order, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id lastName email title } } } }"""
PASSWORD = "violet-harbor-lamp-93"


def _new(prefix: str = "c", **extra: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {"firstName": "Cora", "lastName": f"Contact-{tag}", "email": f"{prefix}.{tag}@acme.test", **extra}


async def _eventually(read: Callable[[], Awaitable[dict]], done: Callable[[dict], bool], what: str) -> dict:
    for _ in range(200):
        value = await read()
        if done(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}: last {value}")


async def test_a_new_contact_is_invited_linked_then_active_and_the_back_office_hears_each_step(
    gql, tokens, mailbox, direct_amqp_url, http
):
    admin = await tokens("admin@acme.test")
    trace_id = uuid.uuid4().hex
    async with tap(direct_amqp_url, ["contact.*"]) as partner:
        response = await http.post(
            "/graphql",
            json={"query": CREATE, "variables": {"i": _new(title="Buyer")}},
            headers={"Authorization": f"Bearer {admin}", "traceparent": f"00-{trace_id}-{'1' * 16}-01"},
        )
        created = response.json()["data"]["createContact"]
        assert (
            created["portalEnabled"]
            and created["syncStatus"] == "PENDING"
            and created["account"]["number"] == "ACME-001"
        )
        mail = (await mailbox.wait_for(created["email"], "invited"))[0]

        async def read() -> dict:
            return (await gql.ok(CONTACT, {"id": created["id"]}, token=admin))["contact"]

        invited = await _eventually(read, lambda c: c["portalAccessStatus"] == "INVITED", "the contact is INVITED")
        assert invited["isUser"] and invited["user"]["email"] == created["email"]
        assert invited["user"]["status"] == "INVITED" and invited["user"]["invitation"]["status"] == "PENDING"
        # the ADMIN resends the invitation from the contact's Login Info: a second mail, a new link
        resent = await gql.ok(RESEND, {"id": invited["user"]["id"]}, token=admin)
        assert resent["resendInvitation"]["resendCount"] == 1
        second = (await mailbox.wait_for(created["email"], "invited", count=2))[1]
        assert token_from(second) != token_from(mail)
        await gql.ok(ACCEPT, {"t": token_from(second), "p": PASSWORD})
        active = await _eventually(read, lambda c: c["portalAccessStatus"] == "ACTIVE", "the contact is ACTIVE")
        assert active["user"]["status"] == "ACTIVE" and active["user"]["lastLoginAt"]
        synced = await partner.wait_for("contact.synced", lambda e: e["data"]["contactId"] == created["id"])
        await _eventually(read, lambda c: c["syncStatus"] == "SYNCED" and c["lastSyncedAt"], "the contact is SYNCED")
    assert synced["source"] == "/portal/contacts" and synced["subject"] == f"contact/{created['id']}"
    assert synced["accountid"] and synced["data"]["operation"] == "created" and synced["data"]["version"] == 1
    assert synced["traceparent"].split("-")[1] == trace_id  # the request's trace continues in the event
    versions = [
        e["data"]["version"] for e in partner.of_type("contact.synced") if e["data"]["contactId"] == created["id"]
    ]
    assert versions == sorted(versions) and len(versions) == len(set(versions)) >= 3  # created, invited, active
    # the ADMIN can also send a password reset for the contact's user (the same public mutation)
    await gql.ok("mutation($e: String!) { requestPasswordReset(email: $e) }", {"e": created["email"]})
    await mailbox.wait_for(created["email"], "reset")


async def test_access_off_or_delete_deactivates_the_user_and_login_is_refused(gql, tokens, mailbox):
    admin = await tokens("admin@acme.test")
    people = []
    for _ in range(2):
        created = (await gql.ok(CREATE, {"i": _new("off")}, token=admin))["createContact"]
        token = token_from((await mailbox.wait_for(created["email"], "invited"))[0])
        await gql.ok(ACCEPT, {"t": token, "p": PASSWORD})
        people.append(created)

    async def status_of(contact_id: str) -> dict:
        return (await gql.ok(CONTACT, {"id": contact_id}, token=admin))["contact"]

    switched_off, deleted = people
    await _eventually(lambda: status_of(switched_off["id"]), lambda c: c["portalAccessStatus"] == "ACTIVE", "ACTIVE")
    assert not (await gql.ok(SET_ACCESS, {"id": switched_off["id"], "on": False}, token=admin))[
        "setContactPortalAccess"
    ]["portalEnabled"]
    off = await _eventually(
        lambda: status_of(switched_off["id"]), lambda c: c["portalAccessStatus"] == "DISABLED", "DISABLED"
    )
    assert off["user"]["status"] == "INACTIVE" and off["isUser"]
    refused = await gql.error(LOGIN, {"e": switched_off["email"], "p": PASSWORD})
    assert code_of(refused) == "UNAUTHENTICATED"

    assert (await gql.ok(DELETE, {"id": deleted["id"]}, token=admin))["deleteContact"] is True
    assert (await gql.ok(CONTACT, {"id": deleted["id"]}, token=admin))["contact"] is None

    async def login_refused() -> dict:
        return await gql(LOGIN, {"e": deleted["email"], "p": PASSWORD})

    await _eventually(login_refused, lambda body: bool(body.get("errors")), "the deleted contact's user is refused")


async def test_roles_matrix_for_contacts(gql, tokens):
    admin = await tokens("admin@acme.test")
    contact = (await gql.ok(CREATE, {"i": _new("matrix", portalEnabled=False)}, token=admin))["createContact"]
    for who in ("user@acme.test", "manager@acme.test"):
        token = await tokens(who)
        assert code_of(await gql.error(LIST, {}, token=token)) == "FORBIDDEN"
        assert code_of(await gql.error(CREATE, {"i": _new()}, token=token)) == "FORBIDDEN"
        assert (await gql.ok(CONTACT, {"id": contact["id"]}, token=token))["contact"] is None
    other = await tokens("admin@globex.test")
    assert (await gql.ok(CONTACT, {"id": contact["id"]}, token=other))["contact"] is None
    assert code_of(await gql.error(UPDATE, {"id": contact["id"], "i": {"title": "x"}}, token=other)) == "NOT_FOUND"
    agent = await tokens("agent@support.test")
    assert (await gql.ok(CONTACT, {"id": contact["id"]}, token=agent))["contact"]["id"] == contact["id"]
    assert code_of(await gql.error(UPDATE, {"id": contact["id"], "i": {"title": "x"}}, token=agent)) == "FORBIDDEN"
    root = await tokens("root@support.test")
    updated = await gql.ok(UPDATE, {"id": contact["id"], "i": {"title": "Controller"}}, token=root)
    assert updated["updateContact"]["title"] == "Controller"
    assert code_of(await gql.error(LIST, {}, token=None)) == "UNAUTHENTICATED"


async def test_bad_input_is_refused_and_changes_nothing(gql, tokens):
    admin = await tokens("admin@acme.test")
    before = (await gql.ok(LIST, {"first": 1}, token=admin))["contacts"]["totalCount"]
    bad = await gql.error(CREATE, {"i": _new(email="not an address")}, token=admin)
    assert code_of(bad) == "BAD_USER_INPUT" and bad["extensions"]["reason"] == "INVALID_EMAIL"
    assert code_of(await gql.error(CREATE, {"i": _new(firstName="   ")}, token=admin)) == "BAD_USER_INPUT"
    first = (await gql.ok(CREATE, {"i": _new("dup", portalEnabled=False)}, token=admin))["createContact"]
    taken = await gql.error(CREATE, {"i": _new(email=first["email"].upper())}, token=admin)
    assert code_of(taken) == "CONFLICT" and taken["extensions"]["reason"] == "EMAIL_TAKEN"
    assert code_of(await gql.error(LIST, {"after": "garbage"}, token=admin)) == "BAD_USER_INPUT"
    assert (await gql.ok(LIST, {"first": 1}, token=admin))["contacts"]["totalCount"] == before + 1


async def test_back_office_upserts_are_idempotent_filters_and_pages_over_hundreds(
    gql, tokens, mailbox, direct_amqp_url
):
    root = await tokens("root@support.test")
    number = f"BO-{uuid.uuid4().hex[:6].upper()}"
    account = (
        await gql.ok(
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }",
            {
                "i": {
                    "name": "Back Office Co",
                    "number": number,
                    "adminEmail": f"bo.{number.lower()}@bo.test",
                    "adminName": "Bo",
                }
            },
            token=root,
        )
    )["createAccount"]["id"]
    rows = [
        {
            "accountId": account,
            "externalId": f"EXT-{n:04d}",
            "firstName": f"Pat{n}",
            "lastName": f"Row{n:04d}",
            "email": f"row{n}@bo.test",
            "title": "Chief Buyer" if n % 10 == 0 else "Engineer",
            "phone": f"+1 202 555 {n:04d}",
        }
        for n in range(260)
    ]
    async with tap(direct_amqp_url, ["contact.synced"]) as partner:
        for start in range(0, len(rows), 100):
            await gql.ok(UPSERT, {"rows": rows[start : start + 100]}, token=root)
        again = (await gql.ok(UPSERT, {"rows": rows[:3]}, token=root))["upsertExternalContacts"]
        await partner.wait_for("contact.synced", lambda e: e["data"]["externalId"] == "EXT-0259")
        await partner.settle()
    assert [c["externalId"] for c in again] == ["EXT-0000", "EXT-0001", "EXT-0002"]
    mine = [e for e in partner.of_type("contact.synced") if e["data"]["accountId"] == account]
    assert len(mine) == 260  # the repeated rows published nothing
    assert not any(c["portalEnabled"] for c in again) and mailbox.to("row0@bo.test") == []

    async def pages(variables: dict) -> tuple[list[dict], int]:
        nodes, after, total = [], None, 0
        while True:
            page = (await gql.ok(LIST, {**variables, "account": account, "after": after}, token=root))["contacts"]
            nodes += [edge["node"] for edge in page["edges"]]
            total = page["totalCount"]
            if not page["pageInfo"]["hasNextPage"]:
                return nodes, total
            after = page["pageInfo"]["endCursor"]

    everyone, total = await pages({"first": 100})
    assert total == 260 and len({c["id"] for c in everyone}) == 260
    assert [c["lastName"] for c in everyone] == sorted(c["lastName"] for c in everyone)
    buyers, total = await pages({"first": 7, "filter": {"title": "chief"}, "order": "EMAIL_ASC"})
    assert total == 26 == len(buyers) and [c["email"] for c in buyers] == sorted(c["email"] for c in buyers)
    searched, total = await pages({"first": 50, "filter": {"search": "555 012"}, "order": "NAME_DESC"})
    assert total == 10 and [c["lastName"] for c in searched] == [f"Row{n:04d}" for n in range(129, 119, -1)]
    # an edge's cursor resumes right after that edge
    page = (await gql.ok(LIST, {"account": account, "first": 5}, token=root))["contacts"]
    resumed = await gql.ok(LIST, {"account": account, "first": 2, "after": page["edges"][2]["cursor"]}, token=root)
    assert [e["node"]["id"] for e in resumed["contacts"]["edges"]] == [e["node"]["id"] for e in page["edges"][3:5]]
    # a contact changed in the portal keeps its externalId
    edited = await gql.ok(UPDATE, {"id": everyone[0]["id"], "i": {"title": "Owner"}}, token=root)
    assert edited["updateContact"]["title"] == "Owner"
    assert (await gql.ok(CONTACT, {"id": everyone[0]["id"]}, token=root))["contact"]["externalId"] == "EXT-0000"


async def test_a_list_of_accounts_with_their_contacts_and_users_costs_one_call_per_level(gql, tokens, mailbox, spans):
    admin = await tokens("admin@acme.test")
    invited = (await gql.ok(CREATE, {"i": _new("calls")}, token=admin))["createContact"]
    await mailbox.wait_for(invited["email"], "invited")
    root = await tokens("root@support.test")
    spans.clear()
    query = """{ accounts(first: 20) { edges { node { number contacts(first: 100) { totalCount
      edges { node { email account { name } user { email } } } } } } } }"""
    data = (await gql.ok(query, token=root))["accounts"]["edges"]
    assert len(data) >= 2 and any(e["node"]["contacts"]["totalCount"] > 1 for e in data)
    listing = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT and s.name.endswith("/ListAccounts")]
    trace_id = listing[-1].context.trace_id

    async def request_span_ended() -> bool:  # the request's server span encloses every call it made
        return any(
            s.kind == SpanKind.SERVER and s.name.startswith("POST /graphql") and s.context.trace_id == trace_id
            for s in spans.get_finished_spans()
        )

    await until(request_span_ended, "the request's server span ended")
    calls = sorted(
        s.name.rsplit("/", 1)[-1]
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.CLIENT and s.attributes.get("rpc.system") == "grpc" and s.context.trace_id == trace_id
    )
    users_linked = any(n["node"]["user"] for e in data for n in e["node"]["contacts"]["edges"])
    expected = ["BatchGetAccounts", "BatchListContacts", "ListAccounts"] + (["BatchGetUsers"] if users_linked else [])
    assert calls == sorted(expected), calls


async def test_demo_contacts_reach_every_portal_access_state(gql, tokens):
    admin = await tokens("admin@acme.test")
    query = """query($f: ContactFilter) { contacts(filter: $f, first: 100) { edges { node {
      email portalAccessStatus isUser externalId user { email } } } } }"""

    async def states() -> dict:
        edges = (await gql.ok(query, {"f": {"email": "@acme.test"}}, token=admin))["contacts"]["edges"]
        return {e["node"]["email"]: e["node"] for e in edges}

    wanted = {
        "user@acme.test": "ACTIVE",
        "ivy.invitee@acme.test": "INVITED",
        "dan.departed@acme.test": "DISABLED",
        "nora.ledger@acme.test": "NONE",
    }
    settled = await _eventually(
        states,
        lambda found: all(found.get(email, {}).get("portalAccessStatus") == s for email, s in wanted.items()),
        "the demo contacts reached their states",
    )
    assert settled["user@acme.test"]["user"]["email"] == "user@acme.test" and settled["user@acme.test"]["isUser"]
    assert not settled["nora.ledger@acme.test"]["isUser"]
    assert settled["bea.booker@acme.test"]["externalId"] == "ERP-1001"


async def test_while_the_provider_has_the_portal_off_no_contact_gets_access(gql, tokens):
    root = await tokens("root@support.test")
    number = f"OFF-{uuid.uuid4().hex[:6].upper()}"
    created = await gql.ok(
        "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id portalEnabled } }",
        {
            "i": {
                "name": "Dormant Inc",
                "number": number,
                "adminEmail": f"a.{number.lower()}@off.test",
                "adminName": "A",
            }
        },
        token=root,
    )
    account = created["createAccount"]["id"]
    switch = (
        "mutation($a: ID!, $on: Boolean!) { setAccountPortalEnabled(accountId: $a, enabled: $on) { portalEnabled } }"
    )
    await gql.ok(switch, {"a": account, "on": False}, token=root)
    offline = {"accountId": account, "portalEnabled": False}
    contact = (await gql.ok(CREATE, {"i": _new("dormant", **offline)}, token=root))["createContact"]

    async def try_access() -> dict:
        return await gql(SET_ACCESS, {"id": contact["id"], "on": True}, token=root)

    # contacts keeps its own copy of the switch from identity's account.updated: refused once it has heard
    refused = await _eventually(try_access, lambda body: bool(body.get("errors")), "contacts heard the switch")
    assert code_of(refused["errors"][0]) == "FAILED_PRECONDITION"
    assert refused["errors"][0]["extensions"]["reason"] == "PORTAL_DISABLED_FOR_ACCOUNT"
    invited = await gql.error(CREATE, {"i": _new("dormant", accountId=account)}, token=root)
    assert invited["extensions"]["reason"] == "PORTAL_DISABLED_FOR_ACCOUNT"
    await gql.ok(switch, {"a": account, "on": True}, token=root)
    granted = await _eventually(try_access, lambda body: not body.get("errors"), "contacts heard the switch back on")
    assert granted["data"]["setContactPortalAccess"]["portalEnabled"]

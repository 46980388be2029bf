"""Cases end to end through the gateway (design.md 4, 5.5, 5.7; issue 11): opening a case with every
field, numbers under concurrency, ref tags, the autoreply, the visibility matrix, every filter and
order with cursor paging, and the cost of a 100-case list."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import SpanKind

from services.cases import rules
from tests.support.events import tap
from tests.support.graphql import code_of
from tests.support.mailbox import body_of
from tests.support.people import new_person
from tests.support.settle import outbox_drained, until

CASE_FIELDS = """id number refTag requesterEmail subject description product environment errorMessage
  issueStartedAt accountNumbers priority status team channel createdAt updatedAt closedAt
  account { id number } requester { id email } assignee { id email } relatedCase { id number }
  attachments { id filename contentType size url }"""
CREATE = f"mutation($i: CreateCaseInput!) {{ createCase(input: $i) {{ {CASE_FIELDS} }} }}"
CASE_BY_ID = f"query($id: ID) {{ case(id: $id) {{ {CASE_FIELDS} }} }}"
CASE_BY_NUMBER = "query($n: String) { case(number: $n) { id number } }"
LIST = """query($f: CaseFilter, $o: CaseOrder, $first: Int, $after: String) {
  cases(filter: $f, orderBy: $o, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id number subject priority status team createdAt updatedAt requesterEmail } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Case { number } } }"


def new_case(tag: str = "", **extra: Any) -> dict[str, Any]:
    tag = tag or uuid.uuid4().hex[:8]
    return {"subject": f"Checkout fails {tag}", "description": "Customers see an error at checkout.", **extra}


async def create(gql, token: str, **extra: Any) -> dict[str, Any]:
    return (await gql.ok(CREATE, {"i": new_case(**extra)}, token=token))["createCase"]


async def test_a_case_with_every_field_gets_a_number_a_ref_tag_an_autoreply_and_an_event(
    gql, http, tokens, mailbox, direct_amqp_url, demo
):
    user = await tokens("user@acme.test")
    began = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    earlier = await create(gql, user)
    fields = new_case(
        product="Payments",
        environment="UAT",
        errorMessage="ERR-05 Do not honor",
        issueStartedAt=began.isoformat(),
        accountNumbers=["4000-1111", " 4000-2222 ", "4000-1111"],
        priority="URGENT",
        relatedCaseNumber=earlier["number"],
    )
    trace_id = uuid.uuid4().hex
    async with tap(direct_amqp_url, ["case.*"]) as partner:
        response = await http.post(
            "/graphql",
            json={"query": CREATE, "variables": {"i": fields}},
            headers={"Authorization": f"Bearer {user}", "traceparent": f"00-{trace_id}-{'2' * 16}-01"},
        )
        case = response.json()["data"]["createCase"]
        event = await partner.wait_for("case.created", lambda e: e["data"]["caseId"] == case["id"])
    assert event["traceparent"].split("-")[1] == trace_id  # the request's trace continues in the event
    assert case["subject"] == fields["subject"] and case["description"] == fields["description"]
    assert (case["product"], case["environment"], case["errorMessage"]) == ("Payments", "UAT", "ERR-05 Do not honor")
    assert datetime.fromisoformat(case["issueStartedAt"]) == began
    assert case["accountNumbers"] == ["4000-1111", "4000-2222"]
    assert (case["priority"], case["status"], case["team"], case["channel"]) == (
        "URGENT",
        "NEW",
        "CUSTOMER_CARE",
        "WEB",
    )
    assert case["requester"]["email"] == case["requesterEmail"] == "user@acme.test"
    assert case["account"]["number"] == "ACME-001" and case["assignee"] is None and case["closedAt"] is None
    assert case["relatedCase"] == {"id": earlier["id"], "number": earlier["number"]}
    assert int(case["number"]) > int(earlier["number"])
    assert re.fullmatch(rf"ref:{case['number']}:[a-z2-7]{{16}}", case["refTag"])
    assert case["refTag"] != earlier["refTag"]
    # the autoreply: number and ref tag in the subject, marked as an automatic reply (RFC 3834)
    mail = (await mailbox.wait_for("user@acme.test", case["refTag"]))[0]
    assert case["number"] in mail["Subject"] and mail["Auto-Submitted"] == "auto-replied"
    assert case["number"] in body_of(mail) and earlier["number"] in body_of(mail)
    assert event["subject"] == f"case/{case['id']}" and event["accountid"] == demo["user@acme.test"].account_id
    assert event["data"] | {"number": case["number"]} == {
        "caseId": case["id"],
        "number": case["number"],
        "accountId": demo["user@acme.test"].account_id,
        "requesterId": demo["user@acme.test"].user_id,
        "subject": fields["subject"],
        "priority": "URGENT",
        "team": "CUSTOMER_CARE",
        "channel": "WEB",
        "relatedCaseId": earlier["id"],
    }
    # by id, by number, as a node
    assert (await gql.ok(CASE_BY_ID, {"id": case["id"]}, token=user))["case"]["refTag"] == case["refTag"]
    assert (await gql.ok(CASE_BY_NUMBER, {"n": case["number"]}, token=user))["case"]["id"] == case["id"]
    assert (await gql.ok(NODE, {"id": case["id"]}, token=user))["node"]["number"] == case["number"]


async def test_the_ref_tag_is_bound_to_the_case_and_the_secret(stack):
    cases = stack.services["cases"].domain
    tag = rules.ref_tag(cases.secret, "cas_1", "00100001")
    assert rules.ref_tag_valid(cases.secret, tag, "cas_1", "00100001")
    assert not rules.ref_tag_valid(cases.secret, tag, "cas_2", "00100001")  # moved to another case
    assert not rules.ref_tag_valid("another secret", tag, "cas_1", "00100001")  # forged without the secret
    assert not rules.ref_tag_valid(cases.secret, tag.replace("00100001", "00100002"), "cas_1", "00100002")


async def test_concurrent_creation_gives_distinct_consecutive_numbers(gql, tokens):
    user = await tokens("manager@acme.test")
    tag = uuid.uuid4().hex[:6]
    made = await asyncio.gather(*(create(gql, user, tag=f"{tag}-{i}") for i in range(25)))
    numbers = sorted(int(c["number"]) for c in made)
    assert numbers == list(range(numbers[0], numbers[0] + 25))  # nobody else creates cases meanwhile
    assert len({c["refTag"] for c in made}) == 25


async def test_bad_input_and_staff_are_refused_and_nothing_is_made(gql, tokens):
    user = await tokens("user@acme.test")
    before = (await gql.ok(LIST, {}, token=user))["cases"]["totalCount"]
    for bad in (
        new_case(subject="   "),
        new_case(description=""),
        new_case(subject="x" * 201),
        new_case(relatedCaseNumber="99999999"),
        new_case(accountNumbers=[f"n{i}" for i in range(21)]),
    ):
        assert code_of(await gql.error(CREATE, {"i": bad}, token=user)) in ("BAD_USER_INPUT", "NOT_FOUND")
    agent = await tokens("agent@support.test")
    assert code_of(await gql.error(CREATE, {"i": new_case()}, token=agent)) == "FORBIDDEN"
    assert code_of(await gql.error(CREATE, {"i": new_case()})) == "UNAUTHENTICATED"
    assert (await gql.ok(LIST, {}, token=user))["cases"]["totalCount"] == before


async def test_visibility_matrix(gql, tokens, mailbox):
    """USER: own cases only; MANAGER and ADMIN: all of their account's; another account: none;
    staff: all. The same by list, by id, by number, and for a related case."""
    admin = await tokens("admin@acme.test")
    colleague = await new_person(gql, mailbox, admin)
    mine = await create(gql, await tokens("user@acme.test"))
    theirs = await create(gql, colleague.access_token)
    managers = await create(gql, await tokens("manager@acme.test"))
    globex = await create(gql, await tokens("admin@globex.test"))
    ids = {"mine": mine["id"], "theirs": theirs["id"], "managers": managers["id"], "globex": globex["id"]}
    expected = {
        "user@acme.test": {"mine"},
        "manager@acme.test": {"mine", "theirs", "managers"},
        "admin@acme.test": {"mine", "theirs", "managers"},
        "admin@globex.test": {"globex"},
        "agent@support.test": set(ids),
        "root@support.test": set(ids),
    }
    for email, visible in expected.items():
        token = await tokens(email)
        listed = set()
        after = None
        while True:  # every page
            page = (await gql.ok(LIST, {"first": 100, "after": after}, token=token))["cases"]
            listed |= {e["node"]["id"] for e in page["edges"]}
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert {k for k, v in ids.items() if v in listed} == visible, email
        for name, case_id in ids.items():
            by_id = (await gql.ok(CASE_BY_ID, {"id": case_id}, token=token))["case"]
            assert (by_id is not None) == (name in visible), (email, name)
        number = globex["number"]
        assert ((await gql.ok(CASE_BY_NUMBER, {"n": number}, token=token))["case"] is not None) == ("globex" in visible)
    # the colleague's own view: theirs only; a case they cannot see is no related case for them
    assert {e["node"]["id"] for e in (await gql.ok(LIST, {}, token=colleague.access_token))["cases"]["edges"]} == {
        theirs["id"]
    }
    refused = await gql.error(CREATE, {"i": new_case(relatedCaseNumber=mine["number"])}, token=colleague.access_token)
    assert code_of(refused) == "NOT_FOUND"
    assert code_of(await gql.error("query { case { id } }", token=admin)) == "BAD_USER_INPUT"


async def test_every_filter_and_order_with_cursor_paging(gql, tokens, mailbox):
    admin = await tokens("admin@acme.test")
    person = await new_person(gql, mailbox, admin)
    tag = uuid.uuid4().hex[:8]
    priorities = ["LOW", "NORMAL", "HIGH", "URGENT", "NORMAL", "HIGH", "LOW"]
    made = []
    for i, priority in enumerate(priorities):
        made.append(await create(gql, person.access_token, tag=f"{tag} n{i}", priority=priority))
    agent = await tokens("agent@support.test")
    root = await tokens("root@support.test")
    await gql.ok(
        "mutation($id: ID!, $t: SupportTeam) { assignCase(id: $id, team: $t) { id } }",
        {"id": made[0]["id"], "t": "TIER2"},
        token=agent,
    )
    agent_id = (await gql.ok("{ me { id } }", token=agent))["me"]["id"]
    await gql.ok(
        "mutation($id: ID!, $a: ID) { assignCase(id: $id, assigneeId: $a) { id } }",
        {"id": made[1]["id"], "a": agent_id},
        token=root,
    )
    await gql.ok(
        "mutation($id: ID!) { setCaseStatus(id: $id, status: SOLVED) { id } }", {"id": made[2]["id"]}, token=agent
    )

    async def ids(token: str, filter: dict, order: str = "CREATED_ASC", page: int = 3) -> list[str]:
        """Every page, following the cursors; checks totalCount on each page."""
        out: list[str] = []
        after = None
        while True:
            data = (await gql.ok(LIST, {"f": filter, "o": order, "first": page, "after": after}, token=token))["cases"]
            out += [e["node"]["id"] for e in data["edges"]]
            assert data["totalCount"] >= len(out)
            if not data["pageInfo"]["hasNextPage"]:
                assert data["totalCount"] == len(out)
                return out
            after = data["pageInfo"]["endCursor"]

    all_ids = [c["id"] for c in made]
    mine = {"search": tag}
    assert await ids(admin, mine) == all_ids
    assert await ids(admin, mine, "CREATED_DESC") == all_ids[::-1]
    assert await ids(admin, mine, "NUMBER_DESC") == all_ids[::-1]
    by_priority = await ids(admin, mine, "PRIORITY_DESC")
    rank = {"LOW": 1, "NORMAL": 2, "HIGH": 3, "URGENT": 4}
    assert [rank[priorities[all_ids.index(i)]] for i in by_priority] == sorted(rank[p] for p in priorities)[::-1]
    updated = await ids(admin, mine, "UPDATED_DESC")
    assert set(updated[:3]) == {made[0]["id"], made[1]["id"], made[2]["id"]}  # changed last
    assert await ids(admin, {**mine, "priority": "HIGH"}) == [made[2]["id"], made[5]["id"]]
    assert await ids(admin, {**mine, "status": ["SOLVED"]}) == [made[2]["id"]]
    assert await ids(admin, {**mine, "status": ["NEW", "SOLVED"]}) == all_ids
    assert await ids(admin, {**mine, "team": "TIER2"}) == [made[0]["id"]]
    assert await ids(admin, {**mine, "assigneeId": agent_id}) == [made[1]["id"]]
    assert await ids(admin, {"requesterId": person.id}) == all_ids
    assert await ids(root, {**mine, "accountId": made[0]["account"]["id"]}) == all_ids
    assert await ids(root, {**mine, "accountId": "acc_000000000000000000000000"}) == []
    assert await ids(admin, {"search": made[3]["number"]}) == [made[3]["id"]]
    middle = made[3]["createdAt"]
    assert await ids(admin, {**mine, "createdAfter": middle}) == all_ids[3:]
    assert await ids(admin, {**mine, "createdBefore": middle}) == all_ids[:3]
    assert await ids(root, {**mine, "unlinked": True}) == []
    assert code_of(await gql.error(LIST, {"f": {"unlinked": True}}, token=admin)) == "FORBIDDEN"
    # a customer's filter never widens what they may see
    user = await tokens("user@acme.test")
    assert await ids(user, {"requesterId": person.id}) == []
    assert await ids(user, {"accountId": "acc_000000000000000000000000"}) == []
    bad = await gql.error(LIST, {"f": mine, "o": "CREATED_ASC", "first": 2, "after": "garbage"}, token=admin)
    assert code_of(bad) == "BAD_USER_INPUT"
    wrong_order = (await gql.ok(LIST, {"f": mine, "o": "CREATED_ASC", "first": 2}, token=admin))["cases"]
    refused = await gql.error(
        LIST, {"f": mine, "o": "NUMBER_DESC", "after": wrong_order["pageInfo"]["endCursor"]}, token=admin
    )
    assert code_of(refused) == "BAD_USER_INPUT"


async def test_a_100_case_list_with_requesters_and_assignees_costs_a_constant_number_of_calls(
    gql, tokens, mailbox, spans, stack
):
    manager = await tokens("manager@acme.test")
    agent = await tokens("agent@support.test")
    agent_id = (await gql.ok("{ me { id } }", token=agent))["me"]["id"]
    total = (await gql.ok(LIST, {}, token=manager))["cases"]["totalCount"]
    made = await asyncio.gather(*(create(gql, manager, tag=f"bulk {i}") for i in range(max(0, 105 - total))))
    for case in made[:10]:
        await gql.ok(
            "mutation($id: ID!, $a: ID) { assignCase(id: $id, assigneeId: $a) { id } }",
            {"id": case["id"], "a": agent_id},
            token=agent,
        )
    query = """{ cases(first: 100) { totalCount edges { node { number requester { email } assignee { email }
      account { name } relatedCase { number } comments(first: 5) { totalCount edges { node { body author { email } } } } } } } }"""
    spans.clear()
    data = (await gql.ok(query, token=manager))["cases"]
    assert len(data["edges"]) == 100 and data["totalCount"] >= 105
    assert any(e["node"]["assignee"] for e in data["edges"])
    listing = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT and s.name.endswith("/ListCases")]
    trace_id = listing[-1].context.trace_id

    async def request_span_ended() -> bool:
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
    # requesters, assignees and comment authors share one users loader: at most 100 ids per call
    assert calls.count("ListCases") == 1 and calls.count("BatchListComments") == 1
    assert calls.count("BatchGetAccounts") == 1 and calls.count("BatchGetUsers") <= 2
    assert set(calls) <= {"ListCases", "BatchListComments", "BatchGetAccounts", "BatchGetUsers", "BatchGetCases"}
    assert len(calls) <= 6, calls
    await outbox_drained(stack.services["cases"].store)


async def test_demo_cases_cover_every_status_and_team(gql, tokens):
    root = await tokens("root@support.test")
    edges = (await gql.ok(LIST, {"f": {"search": "."}, "first": 100, "o": "CREATED_ASC"}, token=root))["cases"]["edges"]
    query = """query($id: ID) { case(id: $id) { status team attachments { filename }
      comments { edges { node { internal } } } } }"""
    seen = [(await gql.ok(query, {"id": e["node"]["id"]}, token=root))["case"] for e in edges[:6]]
    assert {c["status"] for c in seen} == set(rules.STATUSES)
    assert {c["team"] for c in seen} == set(rules.TEAMS)
    assert any(c["attachments"] for c in seen)
    notes = [n["node"]["internal"] for c in seen for n in c["comments"]["edges"]]
    assert True in notes and False in notes

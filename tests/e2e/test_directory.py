"""Accounts, users, staff: lists with filters and pagination, node, account search (design.md 4)."""

from __future__ import annotations

import uuid

from opentelemetry.trace import SpanKind

from tests.support.graphql import code_of
from tests.support.mailbox import token_from
from tests.support.people import PASSWORD, fresh_email, invite
from tests.support.settle import until

USERS = """query($a: ID, $s: UserStatus, $r: Role, $f: Int, $after: String) {
  users(accountId: $a, status: $s, role: $r, first: $f, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id email status role } } } }"""


async def test_users_paginate_with_filters(gql, tokens):
    admin = await tokens("admin@acme.test")
    for _ in range(3):
        await invite(gql, admin, fresh_email("page"))
    first = (await gql.ok(USERS, {"s": "INVITED", "f": 2}, token=admin))["users"]
    assert first["totalCount"] >= 3 and len(first["edges"]) == 2
    assert first["pageInfo"]["hasNextPage"] is True
    assert all(e["node"]["status"] == "INVITED" for e in first["edges"])
    seen = [e["node"]["id"] for e in first["edges"]]
    after = first["pageInfo"]["endCursor"]
    while after:
        page = (await gql.ok(USERS, {"s": "INVITED", "f": 2, "after": after}, token=admin))["users"]
        seen += [e["node"]["id"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert len(seen) == len(set(seen)) == first["totalCount"]
    managers = (await gql.ok(USERS, {"r": "MANAGER", "s": "ACTIVE"}, token=admin))["users"]
    assert {e["node"]["email"] for e in managers["edges"]} >= {"manager@acme.test"}
    assert all(e["node"]["role"] == "MANAGER" for e in managers["edges"])
    capped = (await gql.ok(USERS, {"f": 1000}, token=admin))["users"]
    # asking for more than the cap gets everything up to the cap (`<= 100` alone holds for any page)
    assert len(capped["edges"]) == min(capped["totalCount"], 100)
    bad = await gql.error(USERS, {"after": "not-a-cursor"}, token=admin)
    assert code_of(bad) == "BAD_USER_INPUT"


async def test_node_resolves_users_accounts_and_announcements(gql, tokens):
    admin = await tokens("admin@acme.test")
    me = (await gql.ok("{ me { id account { id } } }", token=admin))["me"]
    query = "query($id: ID!) { node(id: $id) { id __typename ... on User { email } ... on Account { number } } }"
    assert (await gql.ok(query, {"id": me["id"]}, token=admin))["node"]["email"] == "admin@acme.test"
    assert (await gql.ok(query, {"id": me["account"]["id"]}, token=admin))["node"]["number"] == "ACME-001"
    assert (await gql.ok(query, {"id": "usr_000000000000000000000000"}, token=admin))["node"] is None
    globex = await tokens("admin@globex.test")
    assert (await gql.ok(query, {"id": me["id"]}, token=globex))["node"] is None  # other account: not visible


async def test_support_admin_creates_staff_who_can_log_in(gql, tokens, mailbox):
    root = await tokens("root@support.test")
    email = fresh_email("agent", "support.test")
    created = (
        await gql.ok(
            'mutation($e: String!) { createStaffUser(input: {email: $e, name: "Tia Tier", role: AGENT, team: TIER2}) '
            "{ id role team status account { id } } }",
            {"e": email},
            token=root,
        )
    )["createStaffUser"]
    assert (created["role"], created["team"], created["status"], created["account"]) == (
        "AGENT",
        "TIER2",
        "INVITED",
        None,
    )
    token = token_from((await mailbox.wait_for(email, "invited"))[0])
    await gql.ok(
        "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { accessToken } }",
        {"t": token, "p": PASSWORD},
    )
    agent = await gql.token(email, PASSWORD)
    assert (await gql.ok("{ me { role team } }", token=agent))["me"] == {"role": "AGENT", "team": "TIER2"}
    bad = await gql.error(
        'mutation($e: String!) { createStaffUser(input: {email: $e, name: "X", role: ADMIN}) { id } }',
        {"e": fresh_email("x", "support.test")},
        token=root,
    )
    assert code_of(bad) == "BAD_USER_INPUT"


async def test_accounts_search_and_duplicate_number(gql, tokens):
    root = await tokens("root@support.test")
    found = (await gql.ok('{ accounts(search: "glob") { totalCount edges { node { number name } } } }', token=root))[
        "accounts"
    ]
    assert [e["node"]["number"] for e in found["edges"]] == ["GLOBEX-001"]
    create = "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }"
    duplicate = {
        "name": "Acme Again",
        "number": "ACME-001",
        "adminEmail": fresh_email("dup", "x.test"),
        "adminName": "D",
    }
    assert code_of(await gql.error(create, {"i": duplicate}, token=root)) == "CONFLICT"
    invalid = {"name": "Bad", "number": f"no spaces {uuid.uuid4().hex[:4]}", "adminEmail": "x@y.test", "adminName": "D"}
    assert code_of(await gql.error(create, {"i": invalid}, token=root)) == "BAD_USER_INPUT"
    assert (await gql.ok('{ accounts(search: "Acme Again") { totalCount } }', token=root))["accounts"][
        "totalCount"
    ] == 0


async def test_account_admins_for_every_member(gql, tokens):
    user = await tokens("user@acme.test")
    admins = (await gql.ok("{ account { name admins { email role } } }", token=user))["account"]
    assert admins["name"] == "Acme Corp"
    assert {"email": "admin@acme.test", "role": "ADMIN"} in admins["admins"]


async def test_lists_cost_one_call_per_service_not_one_per_item(gql, tokens, spans):
    root = await tokens("root@support.test")
    spans.clear()
    query = "{ accounts(first: 20) { totalCount edges { node { number admins { email account { name } } users(first: 5) { totalCount } } } } }"
    data = (await gql.ok(query, token=root))["accounts"]
    assert len(data["edges"]) >= 2  # several accounts, yet one call of each kind

    listing = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT and s.name.endswith("/ListAccounts")]
    assert len(listing) == 1, listing
    trace_id = listing[0].context.trace_id

    async def request_span_ended() -> bool:  # the request's server span encloses every call it made
        return any(
            s.kind == SpanKind.SERVER and s.name.startswith("POST /graphql") and s.context.trace_id == trace_id
            for s in spans.get_finished_spans()
        )

    await until(request_span_ended, "the request's server span ended")
    calls = [
        s.name.rsplit("/", 1)[-1]
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.CLIENT and s.attributes.get("rpc.system") == "grpc"
    ]
    assert sorted(calls) == ["BatchGetAccounts", "BatchListUsers", "ListAccountAdmins", "ListAccounts"], calls

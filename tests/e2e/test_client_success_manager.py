"""The account's Client Success Manager (seed 003, issue 11): identity owns it, publishes it in
account.updated, and cases routes CLIENT_SUCCESS cases without an agent to that manager."""

from __future__ import annotations

import uuid

from tests.e2e.test_cases import create
from tests.support.events import tap
from tests.support.graphql import code_of
from tests.support.people import PASSWORD, invitation_token
from tests.support.settle import until

SET = """mutation($a: ID!, $u: ID) { setClientSuccessManager(accountId: $a, userId: $u) {
  id clientSuccessManager { id email } } }"""
ASSIGN = """mutation($id: ID!, $t: SupportTeam) { assignCase(id: $id, team: $t) { team assignee { email } } }"""


async def test_the_manager_is_assigned_published_and_cases_are_routed_to_them(
    gql, tokens, mailbox, direct_amqp_url, stack
):
    root, agent = await tokens("root@support.test"), await tokens("agent@support.test")
    number = f"CSM-{uuid.uuid4().hex[:6].upper()}"
    admin_email = f"boss.{number.lower()}@csm.test"
    account = (
        await gql.ok(
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }",
            {"i": {"name": "Umbrella", "number": number, "adminEmail": admin_email, "adminName": "Al"}},
            token=root,
        )
    )["createAccount"]["id"]
    boss = (
        await gql.ok(
            "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { accessToken } }",
            {"t": await invitation_token(mailbox, admin_email), "p": PASSWORD},
        )
    )["acceptInvitation"]["accessToken"]
    agent_user = (await gql.ok("{ me { id email } }", token=agent))["me"]

    for who in (boss, agent):
        assert code_of(await gql.error(SET, {"a": account, "u": agent_user["id"]}, token=who)) == "FORBIDDEN"
    customer = (await gql.ok("{ me { id } }", token=boss))["me"]["id"]
    not_staff = await gql.error(SET, {"a": account, "u": customer}, token=root)
    assert code_of(not_staff) == "BAD_USER_INPUT" and not_staff["extensions"]["reason"] == "NOT_STAFF"

    async with tap(direct_amqp_url, ["account.updated"]) as partner:
        assigned = (await gql.ok(SET, {"a": account, "u": agent_user["id"]}, token=root))["setClientSuccessManager"]
        again = (await gql.ok(SET, {"a": account, "u": agent_user["id"]}, token=root))["setClientSuccessManager"]
        event = await partner.wait_for(
            "account.updated", lambda e: e["data"].get("clientSuccessManagerId") == agent_user["id"]
        )
        await partner.settle()
    assert assigned["clientSuccessManager"] == again["clientSuccessManager"] == agent_user
    assert event["accountid"] == account
    assert len([e for e in partner.of_type("account.updated") if e["data"].get("clientSuccessManagerId")]) == 1
    seen = await gql.ok(
        "query($a: ID) { account(id: $a) { clientSuccessManager { email } } }", {"a": account}, token=boss
    )
    assert seen["account"]["clientSuccessManager"]["email"] == agent_user["email"]  # members see who it is

    store = stack.services["cases"].store

    async def cases_heard() -> bool:
        return await store.client_success_manager(account) == agent_user["id"]

    await until(cases_heard, "cases heard the account's Client Success Manager")
    case = await create(gql, boss)
    routed = (await gql.ok(ASSIGN, {"id": case["id"], "t": "CLIENT_SUCCESS"}, token=root))["assignCase"]
    assert routed == {"team": "CLIENT_SUCCESS", "assignee": {"email": agent_user["email"]}}

    cleared = (await gql.ok(SET, {"a": account, "u": None}, token=root))["setClientSuccessManager"]
    assert cleared["clientSuccessManager"] is None

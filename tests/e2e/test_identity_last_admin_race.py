"""Issue 14, part 2: the last-admin protection is one conditional write, so concurrent demotions or
deactivations of an account's last two admins, sent through the gateway at once, never both pass."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.graphql import code_of
from tests.support.people import PASSWORD, fresh_email, invitation_token, new_person
from tests.unit.test_identity_import import like_a_real_database

SET_ROLE = "mutation($id: ID!) { setUserRole(userId: $id, role: USER) { id role } }"
DEACTIVATE = "mutation($id: ID!) { deactivateUser(userId: $id) { id status } }"
RESTORE_ROLE = "mutation($id: ID!) { setUserRole(userId: $id, role: ADMIN) { id } }"
ACTIVATE = "mutation($id: ID!) { activateUser(userId: $id) { id status } }"
ADMINS = "query($a: ID) { account(id: $a) { admins { id } } }"
ROUNDS = 10


async def _account_with_two_admins(gql, root: str, mailbox) -> tuple[str, list[str]]:
    domain = f"{uuid.uuid4().hex[:6]}.race.test"
    first = fresh_email("first", domain)
    number = f"RACE-{uuid.uuid4().hex[:8]}".upper()
    account = (
        await gql.ok(
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }",
            {"i": {"name": "Race Ltd", "number": number, "adminEmail": first, "adminName": "First"}},
            token=root,
        )
    )["createAccount"]["id"]
    accepted = await gql.ok(
        "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { accessToken user { id } } }",
        {"t": await invitation_token(mailbox, first), "p": PASSWORD},
    )
    second = await new_person(gql, mailbox, accepted["acceptInvitation"]["accessToken"], role="ADMIN", domain=domain)
    return account, [accepted["acceptInvitation"]["user"]["id"], second.id]


@pytest.mark.parametrize(
    "first, second",
    [(SET_ROLE, SET_ROLE), (DEACTIVATE, DEACTIVATE), (SET_ROLE, DEACTIVATE)],
    ids=["demote+demote", "deactivate+deactivate", "demote+deactivate"],
)
async def test_concurrent_removals_of_the_last_two_admins_let_exactly_one_through(
    gql, tokens, stack, mailbox, monkeypatch, first, second
):
    root = await tokens("root@support.test")
    account, admins = await _account_with_two_admins(gql, root, mailbox)
    store = stack.services["identity"].store
    # mongomock answers without yielding; a real server is a round trip away, which is where the
    # old read-then-write check let both requests through
    like_a_real_database(store, monkeypatch, latency=0.001)
    for _ in range(ROUNDS):
        bodies = await asyncio.gather(
            gql(first, {"id": admins[0]}, token=root), gql(second, {"id": admins[1]}, token=root)
        )
        refused = [b["errors"][0] for b in bodies if b.get("errors")]
        assert len(refused) == 1, bodies
        assert (code_of(refused[0]), refused[0]["extensions"]["reason"]) == ("FAILED_PRECONDITION", "LAST_ADMIN")
        left = (await gql.ok(ADMINS, {"a": account}, token=root))["account"]["admins"]
        assert len(left) == 1 and left[0]["id"] in admins
        assert (await store.get_account(account))["active_admin_ids"] == [left[0]["id"]]
        for user_id in admins:  # both admins again for the next round
            await gql.ok(ACTIVATE, {"id": user_id}, token=root)
            await gql.ok(RESTORE_ROLE, {"id": user_id}, token=root)
        assert sorted((await store.get_account(account))["active_admin_ids"]) == sorted(admins)

"""User administration, passwords, throttling, preferences (design.md 4, 5.3, 5.4)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.support.events import tap
from tests.support.graphql import code_of
from tests.support.mailbox import token_from
from tests.support.people import PASSWORD, fresh_email, invitation_token, invite, new_person
from tests.support.settle import background_done, outbox_drained

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken } }"
REFRESH = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }"
ME = "{ me { id email role status emailPreferences { maintenance incident caseUpdates billing } } }"
RESET_REQUEST = "mutation($e: String!) { requestPasswordReset(email: $e) }"
RESET = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }"
CHANGE = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }"
DEACTIVATE = "mutation($id: ID!) { deactivateUser(userId: $id) { id status } }"
ACTIVATE = "mutation($id: ID!) { activateUser(userId: $id) { id status } }"
SET_ROLE = "mutation($id: ID!, $r: Role!) { setUserRole(userId: $id, role: $r) { id role } }"


async def _reset_requests_settled(stack) -> None:
    """A reset request answers before its lookup and mail are done (so every address answers alike):
    wait for both, so that a mail missing from the mailbox afterwards was never sent."""
    identity = stack.services["identity"]
    await background_done(identity.domain)
    await outbox_drained(identity.store)


async def test_deactivate_refuses_login_and_refresh_then_activate(gql, tokens, mailbox, direct_amqp_url):
    admin = await tokens("admin@acme.test")
    person = await new_person(gql, mailbox, admin)
    async with tap(direct_amqp_url, ["user.deactivated", "user.activated"]) as events:
        assert (await gql.ok(DEACTIVATE, {"id": person.id}, token=admin))["deactivateUser"]["status"] == "INACTIVE"
        await events.wait_for("user.deactivated", lambda e: e["data"]["userId"] == person.id)
        login = await gql.error(LOGIN, {"e": person.email, "p": PASSWORD})
        assert code_of(login) == "UNAUTHENTICATED"
        assert code_of(await gql.error(REFRESH, {"t": person.refresh_token})) == "UNAUTHENTICATED"
        assert code_of(await gql.error(ME, token=person.access_token)) == "UNAUTHENTICATED"
        assert (await gql.ok(ACTIVATE, {"id": person.id}, token=admin))["activateUser"]["status"] == "ACTIVE"
        await events.wait_for("user.activated", lambda e: e["data"]["userId"] == person.id)
    assert (await gql.ok(LOGIN, {"e": person.email, "p": PASSWORD}))["login"]["accessToken"]


async def test_deactivating_an_invited_user_revokes_the_invitation(gql, tokens, mailbox):
    admin = await tokens("admin@acme.test")
    email = fresh_email("inv")
    user = await invite(gql, admin, email)
    token = await invitation_token(mailbox, email)
    await gql.ok(DEACTIVATE, {"id": user["id"]}, token=admin)
    refused = await gql.error(
        "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { accessToken } }",
        {"t": token, "p": PASSWORD},
    )
    assert refused["extensions"]["reason"] == "INVITATION_REVOKED"
    # activating someone who never set a password sends a fresh invitation
    assert (await gql.ok(ACTIVATE, {"id": user["id"]}, token=admin))["activateUser"]["status"] == "INVITED"
    assert await invitation_token(mailbox, email, count=2) != token


async def test_role_change_and_last_admin_protection(gql, tokens, mailbox, direct_amqp_url):
    root = await tokens("root@support.test")
    number = f"T-{uuid.uuid4().hex[:6]}".upper()
    admin_email = fresh_email("boss", "tiny.test")
    account = (
        await gql.ok(
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id number name admins { id } } }",
            {"i": {"name": "Tiny Ltd", "number": number, "adminEmail": admin_email, "adminName": "Bo Boss"}},
            token=root,
        )
    )["createAccount"]
    assert account["number"] == number and account["admins"] == []  # the admin is invited, not yet active
    token = await invitation_token(mailbox, admin_email)
    boss = (
        await gql.ok(
            "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { accessToken user { id } } }",
            {"t": token, "p": PASSWORD},
        )
    )["acceptInvitation"]
    boss_token, boss_id = boss["accessToken"], boss["user"]["id"]
    for mutation, variables in [(SET_ROLE, {"id": boss_id, "r": "USER"}), (DEACTIVATE, {"id": boss_id})]:
        refused = await gql.error(mutation, variables, token=boss_token)
        assert (code_of(refused), refused["extensions"]["reason"]) == ("FAILED_PRECONDITION", "LAST_ADMIN")
    me = (await gql.ok(ME, token=boss_token))["me"]
    assert (me["role"], me["status"]) == ("ADMIN", "ACTIVE")

    helper = await new_person(gql, mailbox, boss_token, role="USER", domain="tiny.test")
    async with tap(direct_amqp_url, ["user.role_changed"]) as events:
        assert (await gql.ok(SET_ROLE, {"id": helper.id, "r": "ADMIN"}, token=boss_token))["setUserRole"][
            "role"
        ] == "ADMIN"
        changed = await events.wait_for("user.role_changed", lambda e: e["data"]["userId"] == helper.id)
    assert (changed["data"]["oldRole"], changed["data"]["newRole"]) == ("USER", "ADMIN")
    assert (await gql.ok(SET_ROLE, {"id": boss_id, "r": "MANAGER"}, token=boss_token))["setUserRole"][
        "role"
    ] == "MANAGER"
    bad_role = await gql.error(SET_ROLE, {"id": helper.id, "r": "SUPPORT_ADMIN"}, token=helper.access_token)
    assert code_of(bad_role) == "BAD_USER_INPUT"


async def test_password_reset_flow(gql, tokens, mailbox, clock, stack):
    admin = await tokens("admin@acme.test")
    person = await new_person(gql, mailbox, admin)
    for address in (person.email, "nobody.at.all@acme.test", "not an email"):
        assert (await gql.ok(RESET_REQUEST, {"e": address}))["requestPasswordReset"] is True
    mail = (await mailbox.wait_for(person.email, "reset"))[0]
    await _reset_requests_settled(stack)
    assert not mailbox.to("nobody.at.all@acme.test")
    token = token_from(mail)
    weak = await gql.error(RESET, {"t": token, "p": "123"})
    assert code_of(weak) == "BAD_USER_INPUT"
    new_password = "granite-meadow-fox-17"
    assert (await gql.ok(RESET, {"t": token, "p": new_password}))["resetPassword"] is True
    reuse = await gql.error(RESET, {"t": token, "p": "another-good-pass-88"})
    assert (code_of(reuse), reuse["extensions"]["reason"]) == ("FAILED_PRECONDITION", "RESET_TOKEN_INVALID")
    assert code_of(await gql.error(REFRESH, {"t": person.refresh_token})) == "UNAUTHENTICATED"  # sessions revoked
    assert code_of(await gql.error(LOGIN, {"e": person.email, "p": PASSWORD})) == "UNAUTHENTICATED"
    assert (await gql.ok(LOGIN, {"e": person.email, "p": new_password}))["login"]["accessToken"]

    await gql.ok(RESET_REQUEST, {"e": person.email})
    late = token_from((await mailbox.wait_for(person.email, "reset", count=2))[1])
    clock.advance(timedelta(hours=1, minutes=1))
    expired = await gql.error(RESET, {"t": late, "p": "another-good-pass-88"})
    assert expired["extensions"]["reason"] == "RESET_TOKEN_EXPIRED"


async def test_inactive_user_gets_no_reset_mail(gql, tokens, mailbox, stack):
    admin = await tokens("admin@acme.test")
    person = await new_person(gql, mailbox, admin)
    await gql.ok(DEACTIVATE, {"id": person.id}, token=admin)
    await gql.ok(RESET_REQUEST, {"e": person.email})
    await _reset_requests_settled(stack)
    assert "password_reset" not in await stack.services["identity"].store.get_user(person.id)
    assert not [m for m in mailbox.to(person.email) if "reset" in str(m["Subject"]).lower()]


async def test_change_password_keeps_this_session_and_ends_others(gql, tokens, mailbox):
    admin = await tokens("admin@acme.test")
    person = await new_person(gql, mailbox, admin)
    other = (await gql.ok(LOGIN, {"e": person.email, "p": PASSWORD}))["login"]
    wrong = await gql.error(CHANGE, {"c": "not-my-password", "n": "saffron-kettle-moon-4"}, token=other["accessToken"])
    assert (code_of(wrong), wrong["extensions"]["reason"]) == ("BAD_USER_INPUT", "WRONG_PASSWORD")
    common = await gql.error(CHANGE, {"c": PASSWORD, "n": "password123"}, token=other["accessToken"])
    assert common["extensions"]["reason"] == "PASSWORD_TOO_COMMON"
    assert (await gql.ok(CHANGE, {"c": PASSWORD, "n": "saffron-kettle-moon-4"}, token=other["accessToken"]))[
        "changePassword"
    ]
    assert (await gql.ok(ME, token=other["accessToken"]))["me"]["email"] == person.email
    assert code_of(await gql.error(ME, token=person.access_token)) == "UNAUTHENTICATED"
    assert code_of(await gql.error(REFRESH, {"t": person.refresh_token})) == "UNAUTHENTICATED"


async def test_login_throttling_locks_without_revealing_existence(gql, tokens, mailbox):
    admin = await tokens("admin@acme.test")
    person = await new_person(gql, mailbox, admin)
    ghost = fresh_email("ghost")
    errors = {}
    for email in (person.email, ghost):
        for _ in range(5):
            assert code_of(await gql.error(LOGIN, {"e": email, "p": "wrong-password-x"})) == "UNAUTHENTICATED"
        errors[email] = await gql.error(LOGIN, {"e": email, "p": PASSWORD})
    assert code_of(errors[person.email]) == code_of(errors[ghost]) == "RATE_LIMITED"
    assert errors[person.email]["message"] == errors[ghost]["message"]


async def test_email_preferences_defaults_and_update(gql, tokens, mailbox):
    admin = await tokens("admin@acme.test")
    person = await new_person(gql, mailbox, admin)
    prefs = (await gql.ok(ME, token=person.access_token))["me"]["emailPreferences"]
    assert prefs == {"maintenance": False, "incident": False, "caseUpdates": True, "billing": True}
    update = "mutation($i: EmailPreferencesInput!) { updateEmailPreferences(input: $i) { maintenance incident caseUpdates billing } }"
    updated = await gql.ok(update, {"i": {"maintenance": True, "billing": False}}, token=person.access_token)
    assert updated["updateEmailPreferences"] == {
        "maintenance": True,
        "incident": False,
        "caseUpdates": True,
        "billing": False,
    }
    assert (await gql.ok(ME, token=person.access_token))["me"]["emailPreferences"]["maintenance"] is True

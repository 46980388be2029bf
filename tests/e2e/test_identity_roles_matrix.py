"""design.md section 4, identity rows: every role against every identity query and mutation, on its
own account and another one. A refused call must change nothing (checked through a staff view)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.graphql import code_of
from tests.support.people import fresh_email, invite
from tests.support.tokens import DEMO_USERS

ACTORS = DEMO_USERS  # OTHER_ADMIN: the ADMIN of another account
EVERYONE = set(ACTORS)
ACME_ADMINS = {"ADMIN", "SUPPORT_ADMIN"}

SNAPSHOT = """query($id: ID!, $acme: ID!) { user(id: $id) { role status invitation { status resendCount } }
  users(accountId: $acme) { totalCount } accounts { totalCount } announcements(activeOnly: false) { id } }"""


def _announcement() -> dict:
    start = datetime.now(UTC) + timedelta(days=2)
    return {"kind": "MAINTENANCE", "title": "Matrix", "body": "b", "startsAt": start.isoformat()}


# name: (document, variables(target, acme), roles allowed)
OPERATIONS = {
    "users of the account": (
        "query($a: ID) { users(accountId: $a) { totalCount } }",
        lambda t, a: {"a": a},
        {"ADMIN", "AGENT", "SUPPORT_ADMIN"},
    ),
    "user by id": ("query($id: ID!) { user(id: $id) { id } }", lambda t, a: {"id": t}, EVERYONE - {"OTHER_ADMIN"}),
    "account by id": ("query($a: ID) { account(id: $a) { id } }", lambda t, a: {"a": a}, EVERYONE - {"OTHER_ADMIN"}),
    "account admins": (
        "query($a: ID) { account(id: $a) { admins { email } } }",
        lambda t, a: {"a": a},
        EVERYONE - {"OTHER_ADMIN"},
    ),
    "list accounts": ("{ accounts { totalCount } }", lambda t, a: {}, {"AGENT", "SUPPORT_ADMIN"}),
    "own profile": ("{ me { id emailPreferences { billing } } }", lambda t, a: {}, EVERYONE),
    "own preferences": (
        "mutation { updateEmailPreferences(input: {billing: true}) { billing } }",
        lambda t, a: {},
        EVERYONE,
    ),
    "announcements": ("{ announcements { id } }", lambda t, a: {}, EVERYONE),
    "invite users": (
        'mutation($a: ID, $e: String!) { inviteUsers(accountId: $a, input: [{email: $e, name: "M"}]) { error } }',
        lambda t, a: {"a": a, "e": fresh_email("matrix")},
        ACME_ADMINS,
    ),
    "resend invitation": (
        "mutation($id: ID!) { resendInvitation(userId: $id) { id } }",
        lambda t, a: {"id": t},
        ACME_ADMINS,
    ),
    "set user role": (
        "mutation($id: ID!) { setUserRole(userId: $id, role: MANAGER) { id } }",
        lambda t, a: {"id": t},
        ACME_ADMINS,
    ),
    "deactivate user": (
        "mutation($id: ID!) { deactivateUser(userId: $id) { id } }",
        lambda t, a: {"id": t},
        ACME_ADMINS,
    ),
    "activate user": ("mutation($id: ID!) { activateUser(userId: $id) { id } }", lambda t, a: {"id": t}, ACME_ADMINS),
    "create account": (
        'mutation($n: String!, $e: String!) { createAccount(input: {name: "M", number: $n, adminEmail: $e, adminName: "M"}) { id } }',
        lambda t, a: {"n": f"M-{uuid.uuid4().hex[:8]}", "e": fresh_email("matrix", "m.test")},
        {"SUPPORT_ADMIN"},
    ),
    "create staff user": (
        'mutation($e: String!) { createStaffUser(input: {email: $e, name: "M", role: AGENT, team: TIER2}) { id } }',
        lambda t, a: {"e": fresh_email("staff", "support.test")},
        {"SUPPORT_ADMIN"},
    ),
    "publish announcement": (
        "mutation($i: PublishAnnouncementInput!) { publishAnnouncement(input: $i) { id } }",
        lambda t, a: {"i": _announcement()},
        {"SUPPORT_ADMIN"},
    ),
}


@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_identity_roles_matrix(gql, tokens, actor, operation):
    document, variables_for, allowed = OPERATIONS[operation]
    root = await tokens.as_role("SUPPORT_ADMIN")
    acme_admin = await tokens.as_role("ADMIN")
    acme = (await gql.ok("{ me { account { id } } }", token=acme_admin))["me"]["account"]["id"]
    target = (await invite(gql, acme_admin, fresh_email("target")))["id"]
    if operation == "activate user":
        await gql.ok("mutation($id: ID!) { deactivateUser(userId: $id) { id } }", {"id": target}, token=acme_admin)
    before = await gql.ok(SNAPSHOT, {"id": target, "acme": acme}, token=root)

    token = await tokens.as_role(actor)
    body = await gql(document, variables_for(target, acme), token=token)
    data = body.get("data") or {}
    hidden = bool(data) and all(value is None for value in data.values()) and not body.get("errors")
    if actor in allowed:
        assert not body.get("errors"), body
        assert not hidden, f"{actor} should see {operation}: {body}"
        return
    if body.get("errors"):
        assert code_of(body["errors"][0]) in {"FORBIDDEN", "NOT_FOUND"}, body
    else:
        # a read of another account's object answers null, as if it did not exist
        assert hidden, f"{actor} must not get {operation}: {body}"
    after = await gql.ok(SNAPSHOT, {"id": target, "acme": acme}, token=root)
    assert after == before, f"refused {operation} by {actor} changed state"

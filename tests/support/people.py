"""Making fresh users through the public flows, so tests never disturb the shared demo users."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.support.graphql import GraphQLClient
from tests.support.mailbox import Mailbox, token_from

PASSWORD = "violet-harbor-lamp-93"
INVITE = """mutation($account: ID, $rows: [InviteUserInput!]!) { inviteUsers(accountId: $account, input: $rows) {
  email error user { id email status role invitation { status expiresAt resendCount } } } }"""
ACCEPT = """mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) {
  accessToken refreshToken user { id email status } } }"""


@dataclass
class Person:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str


def fresh_email(prefix: str = "u", domain: str = "acme.test") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@{domain}"


async def invite(
    gql: GraphQLClient, admin_token: str, email: str, role: str = "USER", account: str | None = None
) -> dict:
    rows = [{"email": email, "name": "Test Person", "role": role}]
    result = (await gql.ok(INVITE, {"account": account, "rows": rows}, token=admin_token))["inviteUsers"][0]
    assert result["error"] is None, result
    return result["user"]


async def invitation_token(mailbox: Mailbox, email: str, count: int = 1) -> str:
    mails = await mailbox.wait_for(email, "invited", count=count)
    return token_from(mails[count - 1])


async def new_person(
    gql: GraphQLClient,
    mailbox: Mailbox,
    admin_token: str,
    role: str = "USER",
    domain: str = "acme.test",
    account: str | None = None,
) -> Person:
    email = fresh_email(role.lower(), domain)
    user = await invite(gql, admin_token, email, role, account)
    token = await invitation_token(mailbox, email)
    session = (await gql.ok(ACCEPT, {"t": token, "p": PASSWORD}))["acceptInvitation"]
    return Person(user["id"], email, PASSWORD, session["accessToken"], session["refreshToken"])

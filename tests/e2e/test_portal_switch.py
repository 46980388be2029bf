"""The provider's portal switch per account (design.md 3, 4, 5.1; contract `Account.portalEnabled`,
`setAccountPortalEnabled`), through the gateway. Every test switches a fresh account it created, never
a demo account: other tests log into those."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika

from portalkit.catalog import ContactPortalAccessChanged
from portalkit.events import EXCHANGE, new_envelope
from tests.support.events import dead_lettered, tap
from tests.support.graphql import GraphQLClient, code_of
from tests.support.mailbox import Mailbox
from tests.support.people import ACCEPT, PASSWORD, fresh_email, invitation_token, new_person
from tests.support.settle import handled, handled_at_least, outbox_drained

PORTAL_OFF = "PORTAL_DISABLED_FOR_ACCOUNT"
CREATE = """mutation($i: CreateAccountInput!) { createAccount(input: $i) { id number name portalEnabled } }"""
SWITCH = """mutation($a: ID!, $on: Boolean!) { setAccountPortalEnabled(accountId: $a, enabled: $on) {
  id number portalEnabled } }"""
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken } }"
REFRESH = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }"
ACCOUNT = "query($a: ID) { account(id: $a) { id portalEnabled } }"


@dataclass
class FreshAccount:
    id: str
    number: str
    admin_email: str


async def _create_account(gql: GraphQLClient, root: str) -> FreshAccount:
    number = f"SW-{uuid.uuid4().hex[:8]}".upper()
    admin_email = fresh_email("boss", "switch.test")
    variables = {"i": {"name": "Switch Co", "number": number, "adminEmail": admin_email, "adminName": "Sam Switch"}}
    created = (await gql.ok(CREATE, variables, token=root))["createAccount"]
    assert (created["number"], created["portalEnabled"]) == (number, True)
    return FreshAccount(created["id"], number, admin_email)


async def _activate_admin(gql: GraphQLClient, mailbox: Mailbox, account: FreshAccount) -> dict[str, Any]:
    token = await invitation_token(mailbox, account.admin_email)
    return (await gql.ok(ACCEPT, {"t": token, "p": PASSWORD}))["acceptInvitation"]


async def _switch(gql: GraphQLClient, token: str, account: FreshAccount, on: bool) -> dict[str, Any]:
    return (await gql.ok(SWITCH, {"a": account.id, "on": on}, token=token))["setAccountPortalEnabled"]


def _refused(error: dict[str, Any]) -> tuple[str, str]:
    return code_of(error), error["extensions"].get("reason", "")


def _about(account: FreshAccount) -> Any:
    return lambda e: e["data"]["accountId"] == account.id


async def test_switching_a_portal_off_locks_its_customers_out_until_it_is_on_again(
    gql, tokens, mailbox, direct_amqp_url
):
    root = await tokens("root@support.test")
    async with tap(direct_amqp_url, ["account.*"]) as events:
        account = await _create_account(gql, root)
        admin = await _activate_admin(gql, mailbox, account)
        assert (await gql.ok(ACCOUNT, token=admin["accessToken"]))["account"]["portalEnabled"] is True

        assert await _switch(gql, root, account, False) == {
            "id": account.id,
            "number": account.number,
            "portalEnabled": False,
        }
        event = await events.wait_for(
            "account.updated", lambda e: _about(account)(e) and not e["data"]["portalEnabled"]
        )
        message = events.messages[events.events.index(event)]

        # its ADMIN can no longer log in, refresh, or use the access token they hold
        login = await gql.error(LOGIN, {"e": account.admin_email, "p": PASSWORD})
        assert _refused(login) == ("UNAUTHENTICATED", PORTAL_OFF)
        assert "switched the portal off" in login["message"]
        assert _refused(await gql.error(REFRESH, {"t": admin["refreshToken"]})) == ("UNAUTHENTICATED", PORTAL_OFF)
        assert _refused(await gql.error("{ me { id } }", token=admin["accessToken"])) == ("UNAUTHENTICATED", PORTAL_OFF)
        # staff are never affected, and see the switch
        assert (await gql.ok(ACCOUNT, {"a": account.id}, token=root))["account"]["portalEnabled"] is False

        assert (await _switch(gql, root, account, True))["portalEnabled"] is True
        await events.wait_for("account.updated", lambda e: _about(account)(e) and e["data"]["portalEnabled"])
    assert (await gql.ok(LOGIN, {"e": account.admin_email, "p": PASSWORD}))["login"]["accessToken"]
    assert (await gql.ok(REFRESH, {"t": admin["refreshToken"]}))["refreshSession"]["accessToken"]

    # the event on the wire: CloudEvents envelope, tenant attribute, contract fields
    assert event["specversion"] == "1.0"
    assert event["type"] == "portal.account.updated.v1"
    assert event["source"] == "/portal/identity"
    assert event["subject"] == f"account/{account.id}"
    assert event["accountid"] == account.id
    assert event["datacontenttype"] == "application/json"
    assert event["traceparent"].startswith("00-")
    assert datetime.fromisoformat(event["time"].replace("Z", "+00:00")).tzinfo is not None
    assert {
        "accountId": account.id,
        "number": account.number,
        "name": "Switch Co",
        "portalEnabled": False,
    }.items() <= event["data"].items()
    assert message.routing_key == "account.updated"
    assert message.message_id == event["id"]
    assert message.content_type == "application/cloudevents+json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_create_account_publishes_account_updated_and_a_repeated_switch_publishes_once(
    gql, tokens, stack, direct_amqp_url
):
    root = await tokens("root@support.test")
    async with tap(direct_amqp_url, ["account.updated"]) as events:
        account = await _create_account(gql, root)
        created = await events.wait_for("account.updated", _about(account))
        assert created["data"]["portalEnabled"] is True and created["data"]["number"] == account.number
        for _ in range(2):
            assert (await _switch(gql, root, account, False))["portalEnabled"] is False
        await outbox_drained(stack.services["identity"].store)
        await events.settle()
    published = [e["data"]["portalEnabled"] for e in events.of_type("account.updated") if _about(account)(e)]
    assert published == [True, False]


async def test_only_a_support_admin_may_switch_a_portal(gql, tokens, mailbox):
    root = await tokens("root@support.test")
    account = await _create_account(gql, root)
    own_admin = (await _activate_admin(gql, mailbox, account))["accessToken"]
    actors = {role: await tokens.as_role(role) for role in ("USER", "MANAGER", "ADMIN", "OTHER_ADMIN", "AGENT")}
    for actor, token in {**actors, "ADMIN of the account": own_admin}.items():
        refused = await gql.error(SWITCH, {"a": account.id, "on": False}, token=token)
        assert code_of(refused) == "FORBIDDEN", actor
    assert code_of(await gql.error(SWITCH, {"a": account.id, "on": False})) == "UNAUTHENTICATED"
    assert code_of(await gql.error(SWITCH, {"a": "acc_unknown", "on": False}, token=root)) == "NOT_FOUND"
    # nothing changed: the account's admin still gets in
    assert (await gql.ok(ACCOUNT, {"a": account.id}, token=root))["account"]["portalEnabled"] is True
    assert (await gql.ok(LOGIN, {"e": account.admin_email, "p": PASSWORD}))["login"]["accessToken"]


async def test_demo_accounts_report_their_portal_on(gql, tokens):
    for email in ("admin@acme.test", "user@acme.test", "admin@globex.test"):
        assert (await gql.ok(ACCOUNT, token=await tokens(email)))["account"]["portalEnabled"] is True
    agent = await tokens("agent@support.test")
    for number in ("ACME-001", "GLOBEX-001"):
        listed = await gql.ok(
            "query($s: String) { accounts(search: $s) { edges { node { number portalEnabled } } } }",
            {"s": number},
            token=agent,
        )
        assert {"number": number, "portalEnabled": True} in [e["node"] for e in listed["accounts"]["edges"]]


# --- identity's reaction to contact.portal_access_changed, as contacts would publish it ---------------


async def _publish_access_changed(amqp_url: str, envelope: dict[str, Any], copies: int = 1) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        for _ in range(copies):
            message = aio_pika.Message(
                body=json.dumps(envelope).encode(),
                message_id=envelope["id"],
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(message, routing_key="contact.portal_access_changed")


def _access_changed(account_id: str, email: str) -> tuple[str, dict[str, Any]]:
    contact_id = f"con_{uuid.uuid4().hex[:12]}"
    event = ContactPortalAccessChanged(
        contact_id=contact_id, account_id=account_id, email=email, name="Con Tact", enabled=True
    )
    return contact_id, new_envelope(event)


async def test_access_for_an_active_users_email_links_them_and_publishes_user_activated_once(
    gql, tokens, mailbox, stack, direct_amqp_url, metric_reader
):
    person = await new_person(gql, mailbox, await tokens("admin@acme.test"))
    identity = stack.services["identity"]
    user = await identity.store.get_user(person.id)
    contact_id, envelope = _access_changed(user["account_id"], person.email)
    before = handled(metric_reader, "identity.contact-access")
    async with tap(direct_amqp_url, ["user.activated"]) as events:
        await _publish_access_changed(direct_amqp_url, envelope, copies=2)
        await handled_at_least(metric_reader, "identity.contact-access", before + 2)
        await outbox_drained(identity.store)
        await events.settle()
    linked = [e["data"] for e in events.of_type("user.activated") if e["data"]["userId"] == person.id]
    assert linked == [
        {
            "userId": person.id,
            "accountId": user["account_id"],
            "contactId": contact_id,
            "email": person.email,
            "role": "USER",
        }
    ]
    assert (await identity.store.get_user(person.id))["contact_id"] == contact_id


async def test_access_is_refused_and_dead_lettered_while_the_accounts_portal_is_off(
    gql, tokens, stack, direct_amqp_url
):
    root = await tokens("root@support.test")
    account = await _create_account(gql, root)
    await _switch(gql, root, account, False)
    email = fresh_email("contact", "switch.test")
    _, envelope = _access_changed(account.id, email)
    await _publish_access_changed(direct_amqp_url, envelope)
    dead = await dead_lettered(direct_amqp_url, envelope["id"])
    assert dead.headers["x-attempt"] == 1  # a domain refusal: final at once
    assert "switched the portal off" in str(dead.headers["x-failure-reason"])
    assert await stack.services["identity"].store.find_user_by_email(email) is None

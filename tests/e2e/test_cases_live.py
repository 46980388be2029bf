"""caseUpdated over graphql-transport-ws (issue 11): changes pushed live only to viewers allowed to see
the case, never an internal note to a customer. Absence is proven by order: the events before a
marker change have been confirmed by the broker (outbox drained) before the marker is made, and the
gateway's live queue delivers in order, so once the marker is pushed nothing earlier can follow."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import websockets

from tests.e2e.test_cases import create
from tests.e2e.test_cases_work import COMMENT, STATUS
from tests.support.graphql import code_of
from tests.support.people import new_person
from tests.support.settle import outbox_drained, until

SUBSCRIBE = """subscription($id: ID) { caseUpdated(caseId: $id) { id number status
  comments { edges { node { body internal } } } } }"""


class Subscriber:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.pushed: list[dict[str, Any]] = []
        self.errors: list[Any] = []

    async def run(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message["type"] == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    self.errors.append(payload["errors"])
                else:
                    self.pushed.append(payload["data"]["caseUpdated"])
            elif message["type"] == "error":
                self.errors.append(message["payload"])

    def of(self, case_id: str) -> list[dict[str, Any]]:
        return [c for c in self.pushed if c["id"] == case_id]

    async def wait_for(self, case_id: str, status: str) -> dict[str, Any]:
        async def arrived() -> bool:
            return any(c["status"] == status for c in self.of(case_id))

        await until(arrived, f"{case_id} pushed as {status}")
        return next(c for c in self.of(case_id) if c["status"] == status)


@contextlib.asynccontextmanager
async def subscribed(stack: Any, token: str, case_id: str | None = None) -> AsyncIterator[Subscriber]:
    url = stack.gateway_url.replace("http", "ws") + "/graphql"
    live = stack.extras["gateway_app"].state.live
    before = live.listener_count
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": uuid.uuid4().hex,
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"id": case_id}},
                }
            )
        )
        subscriber = Subscriber(ws)
        task = asyncio.create_task(subscriber.run())

        async def listening() -> bool:
            return live.listener_count > before or bool(subscriber.errors)

        await until(listening, "the subscription listens")
        try:
            yield subscriber
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def test_changes_are_pushed_only_to_those_who_may_see_the_case(gql, tokens, mailbox, stack):
    admin = await tokens("admin@acme.test")
    colleague = await new_person(gql, mailbox, admin)
    user = await tokens("user@acme.test")
    agent = await tokens("agent@support.test")
    theirs = await create(gql, colleague.access_token)
    mine = await create(gql, user)
    globex_case = await create(gql, await tokens("admin@globex.test"))
    async with (
        subscribed(stack, user) as as_user,
        subscribed(stack, await tokens("manager@acme.test")) as as_manager,
        subscribed(stack, await tokens("admin@globex.test")) as as_globex,
        subscribed(stack, agent) as as_agent,
        subscribed(stack, user, mine["id"]) as one_case,
    ):
        await gql.ok(STATUS, {"id": theirs["id"], "s": "OPEN"}, token=agent)
        await gql.ok(STATUS, {"id": globex_case["id"], "s": "OPEN"}, token=agent)
        await outbox_drained(stack.services["cases"].store)
        await gql.ok(STATUS, {"id": mine["id"], "s": "OPEN"}, token=agent)  # the marker
        for subscriber in (as_user, as_manager, as_globex, as_agent, one_case):
            if subscriber is as_globex:
                await as_globex.wait_for(globex_case["id"], "OPEN")
                continue
            await subscriber.wait_for(mine["id"], "OPEN")
        assert await as_manager.wait_for(theirs["id"], "OPEN") and await as_agent.wait_for(theirs["id"], "OPEN")
        assert not as_user.of(theirs["id"]) and not as_user.of(globex_case["id"])
        assert not as_manager.of(globex_case["id"]) and not as_globex.of(theirs["id"]) and not as_globex.of(mine["id"])
        assert {c["id"] for c in one_case.pushed} == {mine["id"]}
        assert not any(s.errors for s in (as_user, as_manager, as_globex, as_agent, one_case))


async def test_an_internal_note_is_never_pushed_to_a_customer(gql, tokens, stack):
    user = await tokens("user@acme.test")
    agent = await tokens("agent@support.test")
    case = await create(gql, user)
    secret = f"note-{uuid.uuid4().hex}"
    async with subscribed(stack, user, case["id"]) as customer, subscribed(stack, agent, case["id"]) as staff:
        await gql.ok(COMMENT, {"id": case["id"], "b": secret, "i": True}, token=agent)

        async def staff_saw_it() -> bool:
            return any(secret in json.dumps(c) for c in staff.pushed)

        await until(staff_saw_it, "the note was pushed to staff")
        await outbox_drained(stack.services["cases"].store)
        await gql.ok(STATUS, {"id": case["id"], "s": "PENDING_CUSTOMER"}, token=agent)  # the marker
        pushed = await customer.wait_for(case["id"], "PENDING_CUSTOMER")
        assert customer.pushed == [pushed]  # nothing for the note
        assert secret not in json.dumps(customer.pushed)
        # the customer's reply is pushed to both; still without the note for the customer
        await gql.ok(COMMENT, {"id": case["id"], "b": "here are the logs"}, token=user)
        reopened = await customer.wait_for(case["id"], "OPEN")
        assert [e["node"]["body"] for e in reopened["comments"]["edges"]] == ["here are the logs"]
        seen_by_staff = await staff.wait_for(case["id"], "OPEN")
        assert [e["node"]["body"] for e in seen_by_staff["comments"]["edges"]] == [secret, "here are the logs"]


async def test_subscribing_to_a_case_one_may_not_see_is_refused(gql, tokens, stack):
    case = await create(gql, await tokens("admin@globex.test"))
    async with subscribed(stack, await tokens("user@acme.test"), case["id"]) as outsider:

        async def refused() -> bool:
            return bool(outsider.errors)

        await until(refused, "the subscription was refused")
    errors = outsider.errors[0]
    assert code_of(errors[0]) == "NOT_FOUND"

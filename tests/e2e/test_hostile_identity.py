"""Identity under attack through the gateway (issue 9): racing the lockout, mail bombing an
address, look-alike addresses, and a login burst that saturates password hashing."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from tests.support.graphql import code_of
from tests.support.people import PASSWORD, fresh_email, invite, new_person
from tests.support.settle import background_done, outbox_drained

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"
RESET = "mutation($e: String!) { requestPasswordReset(email: $e) }"
RESEND = "mutation($id: ID!) { resendInvitation(userId: $id) { resendCount } }"


def _outcome(body: dict) -> str:
    if body.get("errors"):
        error = body["errors"][0]
        return error["extensions"].get("reason") or code_of(error)
    return "OK"


async def test_a_login_burst_cannot_check_more_passwords_than_the_limit(gql, tokens, mailbox):
    person = await new_person(gql, mailbox, await tokens("admin@acme.test"))
    guesses = [f"wrong-guess-{n}-{uuid.uuid4().hex[:4]}" for n in range(39)]
    guesses.insert(20, person.password)  # the right one, deep in the burst
    answers = await asyncio.gather(*(gql(LOGIN, {"e": person.email, "p": p}) for p in guesses))
    outcomes = Counter(_outcome(a) for a in answers)
    checked = outcomes["INVALID_CREDENTIALS"] + outcomes["OK"]
    assert checked <= 5, outcomes  # MAX_FAILURES_PER_EMAIL: the rest were refused before any check
    assert outcomes["RATE_LIMITED"] + outcomes["OVERLOADED"] >= 34, outcomes
    if outcomes["OK"]:  # only if it was among the few checked
        assert answers[20] == next(a for a in answers if _outcome(a) == "OK")
    late = await gql(LOGIN, {"e": person.email, "p": person.password})
    assert _outcome(late) in {"RATE_LIMITED", "OK"}


async def test_reset_requests_to_one_address_send_at_most_a_few_mails(gql, tokens, mailbox, stack):
    person = await new_person(gql, mailbox, await tokens("admin@acme.test"))
    answers = await asyncio.gather(*(gql(RESET, {"e": person.email}) for _ in range(12)))
    assert all(a == {"data": {"requestPasswordReset": True}} for a in answers)  # always the same answer
    identity = stack.services["identity"]
    await background_done(identity.domain)
    await outbox_drained(identity.store)
    assert len([m for m in mailbox.to(person.email) if "reset" in str(m["Subject"]).lower()]) == 3


async def test_resending_an_invitation_is_limited_per_user(gql, tokens, mailbox):
    admin = await tokens("admin@acme.test")
    user = await invite(gql, admin, fresh_email("resend"))
    outcomes = [_outcome(await gql(RESEND, {"id": user["id"]}, token=admin)) for _ in range(7)]
    assert outcomes == ["OK"] * 5 + ["TOO_MANY_RESENDS"] * 2


async def test_a_full_width_look_alike_address_is_the_same_user(gql, tokens, mailbox):
    admin = await tokens("admin@acme.test")
    look_alike = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in "user") + "@acme.test"
    rows = [{"email": look_alike, "name": "Impostor", "role": "USER"}]
    result = await gql.ok(
        "mutation($rows: [InviteUserInput!]!) { inviteUsers(input: $rows) { error user { id } } }",
        {"rows": rows},
        token=admin,
    )
    assert result["inviteUsers"][0]["user"] is None and "already" in result["inviteUsers"][0]["error"]
    login = await gql(LOGIN, {"e": look_alike, "p": "portal-demo-pass"})
    assert _outcome(login) == "OK"  # the same account as user@acme.test, not a second one


async def test_saturated_hashing_answers_a_retryable_error_not_unavailable(gql, stack, monkeypatch):
    domain = stack.services["identity"].domain
    monkeypatch.setattr(domain, "_hashing", asyncio.Semaphore(0))  # every slot taken
    from services.identity import rules

    monkeypatch.setattr(rules, "HASHING_QUEUE_SECONDS", 0.2)
    body = await gql(LOGIN, {"e": f"nobody.{uuid.uuid4().hex[:6]}@acme.test", "p": PASSWORD})
    error = body["errors"][0]
    assert code_of(error) == "RATE_LIMITED" and error["extensions"]["reason"] == "OVERLOADED"
    assert "try again" in error["message"]


async def test_a_client_cannot_choose_its_address_with_x_forwarded_for(http, stack):
    spoofed = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    body = {"query": LOGIN, "variables": {"e": f"ghost.{uuid.uuid4().hex[:6]}@acme.test", "p": "wrong-password-1"}}
    response = await http.post("/graphql", json=body, headers={"X-Forwarded-For": spoofed})
    assert response.json()["errors"][0]["extensions"]["reason"] == "INVALID_CREDENTIALS"
    counted = {
        s["_id"] for s in await stack.services["identity"].store.get_throttle([f"client:{spoofed}", "client:127.0.0.1"])
    }
    assert counted == {"client:127.0.0.1"}  # PORTAL_TRUSTED_PROXIES is empty: the peer address counts


def test_forwarded_headers_are_believed_only_from_listed_proxies():
    from gateway.serving import proxy_options

    assert proxy_options("") == {"proxy_headers": False, "forwarded_allow_ips": None}
    assert proxy_options(" 10.0.0.5, 10.0.0.6 ") == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.5", "10.0.0.6"],
    }


async def test_grpc_reflection_is_off_unless_asked_for(stack):
    import grpc
    import grpc.aio
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async with grpc.aio.insecure_channel(stack.address("identity")) as channel:
        listing = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        try:
            replies = [reply async for reply in listing]
        except grpc.aio.AioRpcError as refused:
            assert refused.code() == grpc.StatusCode.UNIMPLEMENTED
        else:
            raise AssertionError(f"reflection answered: {replies}")

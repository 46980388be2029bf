"""Cases when identity is down (issue 11, design.md 2 and 7): the cases service's fresh reads of
identity have a deadline and fail cleanly; the gateway serves the cases with the people fields null
and UNAVAILABLE."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from services.cases.directory import IdentityDirectory
from tests.e2e.test_cases import LIST, create, new_case
from tests.e2e.test_cases_work import STATUS, _mails
from tests.e2e.test_faults import gateway_with_dead_services  # noqa: F401 - the fixture
from tests.support.graphql import code_of
from tests.support.mailbox import free_port
from tests.support.people import new_person
from tests.support.settle import outbox_drained

CREATE = "mutation($i: CreateCaseInput!) { createCase(input: $i) { id } }"


@contextlib.contextmanager
def identity_unreachable(stack) -> Iterator[None]:
    cases = stack.services["cases"].domain
    kept = cases.directory
    cases.directory = IdentityDirectory(f"127.0.0.1:{free_port()}", deadline=0.5)
    try:
        yield
    finally:
        cases.directory = kept


async def test_without_identity_no_case_is_opened_and_status_moves_go_on_without_mail(gql, tokens, mailbox, stack):
    admin = await tokens("admin@acme.test")
    person = await new_person(gql, mailbox, admin)
    case = await create(gql, person.access_token)
    before = (await gql.ok(LIST, {}, token=person.access_token))["cases"]["totalCount"]
    agent = await tokens("agent@support.test")
    with identity_unreachable(stack):
        refused = await gql.error(CREATE, {"i": new_case()}, token=person.access_token)
        assert code_of(refused) == "UNAVAILABLE" and "127.0.0.1" not in refused["message"]
        # the preference cannot be read: the move is made, the notice is not sent
        moved = (await gql.ok(STATUS, {"id": case["id"], "s": "PENDING_CUSTOMER"}, token=agent))["setCaseStatus"]
        assert moved["status"] == "PENDING_CUSTOMER"
    await outbox_drained(stack.services["cases"].store)
    assert not _mails(mailbox, person.email, "Status Pending Customer")
    assert (await gql.ok(LIST, {}, token=person.access_token))["cases"]["totalCount"] == before


async def test_cases_are_served_with_people_null_when_identity_is_down(tokens, gateway_with_dead_services):  # noqa: F811
    token = await tokens("manager@acme.test")
    body = await gateway_with_dead_services(
        "{ cases(first: 5) { edges { node { number requester { email } } } } }", token=token
    )
    edges = body["data"]["cases"]["edges"]
    assert edges and all(e["node"]["number"] and e["node"]["requester"] is None for e in edges)
    assert {code_of(e) for e in body["errors"]} == {"UNAVAILABLE"}

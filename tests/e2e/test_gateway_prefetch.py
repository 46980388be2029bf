"""References on list items (User.account, Contact.user, Case.requester, …) are read for the whole
list before its items complete, so each item's field resolves at once (no awaitable, no task per
item); a single object's reference (and a reference's own reference, e.g. Contact.user.account) is
read through its loader, still one batch call per level; fragments count as selections."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.schema.common import Reference


@pytest.fixture
def deferred(monkeypatch) -> list[str]:
    """The references that had to be awaited (not prefetched), by key attribute."""
    seen: list[str] = []
    original = Reference._later

    def counting(self: Reference, found: Any, info: Any) -> Any:
        seen.append(self.key)
        return original(self, found, info)

    monkeypatch.setattr(Reference, "_later", counting)
    return seen


async def test_a_page_of_users_with_their_account_awaits_no_reference(gql, tokens, deferred):
    root = await tokens("root@support.test")
    query = """{ users(first: 50) { edges { node { email ...where } } } }
      fragment where on User { account { name } }"""
    edges = (await gql.ok(query, token=root))["users"]["edges"]
    assert sum(1 for e in edges if e["node"]["account"]) >= 3
    assert deferred == []


async def test_nested_lists_prefetch_each_level(gql, tokens, deferred):
    root = await tokens("root@support.test")
    query = """{ accounts(first: 20) { edges { node { name
      contacts(first: 50) { edges { node { email user { email } } } } } } } }"""
    data = (await gql.ok(query, token=root))["accounts"]["edges"]
    assert [n["node"]["user"] for e in data for n in e["node"]["contacts"]["edges"] if n["node"]["user"]]
    assert deferred == []


async def test_one_object_reads_its_reference_through_the_loader(gql, tokens, deferred):
    admin = await tokens("admin@acme.test")
    assert (await gql.ok("{ me { account { name } } }", token=admin))["me"]["account"]["name"]
    assert deferred == ["account_id"]

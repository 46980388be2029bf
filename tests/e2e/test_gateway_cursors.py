"""Cursors are the identity service's own, passed through unchanged: any edge's cursor resumes right
after that edge, at the top level and in a nested Account.users page."""

from __future__ import annotations

USERS = """query($f: Int, $after: String) { users(first: $f, after: $after) {
  pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }"""
ACCOUNTS = """query($f: Int, $after: String) { accounts(first: $f, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }"""
ACCOUNT_USERS = """query($after: String) { me { account { users(first: 2, after: $after) {
  pageInfo { endCursor } edges { cursor node { id } } } } } }"""


def _ids(page: dict) -> list[str]:
    return [e["node"]["id"] for e in page["edges"]]


async def test_any_edge_cursor_resumes_right_after_its_edge(gql):
    admin = await gql.token("admin@acme.test")
    full = (await gql.ok(USERS, {"f": 3}, token=admin))["users"]
    assert len(full["edges"]) == 3
    assert full["pageInfo"]["endCursor"] == full["edges"][-1]["cursor"]
    resumed = (await gql.ok(USERS, {"f": 2, "after": full["edges"][0]["cursor"]}, token=admin))["users"]
    assert _ids(resumed) == _ids(full)[1:]


async def test_account_pages_end_with_the_last_edges_cursor(gql):
    root = await gql.token("root@support.test")
    first = (await gql.ok(ACCOUNTS, {"f": 1}, token=root))["accounts"]
    assert first["totalCount"] >= 2 and first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["endCursor"] == first["edges"][0]["cursor"]
    both = (await gql.ok(ACCOUNTS, {"f": 2}, token=root))["accounts"]
    second = (await gql.ok(ACCOUNTS, {"f": 1, "after": first["pageInfo"]["endCursor"]}, token=root))["accounts"]
    assert _ids(second) == _ids(both)[1:2]


async def test_nested_account_users_cursor_resumes_the_nested_page(gql):
    admin = await gql.token("admin@acme.test")
    first = (await gql.ok(ACCOUNT_USERS, token=admin))["me"]["account"]["users"]
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    after_one = (await gql.ok(ACCOUNT_USERS, {"after": first["edges"][0]["cursor"]}, token=admin))["me"]["account"]
    assert _ids(after_one["users"])[0] == _ids(first)[1]

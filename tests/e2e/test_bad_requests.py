"""Malformed GraphQL, unknown fields, non-JSON bodies, hostile queries: clean errors, never a 500."""

from __future__ import annotations

import pytest

from tests.support.graphql import code_of


async def test_syntax_error(gql):
    response = await gql.raw("{ me { id ")
    assert response.status_code < 500
    error = response.json()["errors"][0]
    assert code_of(error) == "BAD_USER_INPUT"
    assert error["extensions"]["reason"] == "GRAPHQL_PARSE_FAILED"


async def test_unknown_field(gql):
    response = await gql.raw("{ me { id shoeSize } }")
    assert response.status_code < 500
    error = response.json()["errors"][0]
    assert code_of(error) == "BAD_USER_INPUT"
    assert "shoeSize" in error["message"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"this is not json", "application/json"), (b"{", "application/json"), (b"[1,2", "application/json")],
)
async def test_non_json_body(http, body, content_type):
    response = await http.post("/graphql", content=body, headers={"content-type": content_type})
    assert 400 <= response.status_code < 500
    assert code_of(response.json()["errors"][0]) == "BAD_USER_INPUT"


async def test_wrong_variable_type(gql):
    body = await gql('mutation($e: String!) { login(email: $e, password: "x") { accessToken } }', {"e": 42})
    assert code_of(body["errors"][0]) == "BAD_USER_INPUT"


async def test_too_deep_query_is_refused_before_running(gql):
    deep = "{ me " + "{ account { admins " * 10 + "{ id }" + " } }" * 10 + " }"
    body = await gql(deep)
    assert code_of(body["errors"][0]) == "BAD_USER_INPUT"
    assert "too deep" in body["errors"][0]["message"] and body["errors"][0]["extensions"]["reason"] == "QUERY_TOO_DEEP"


async def test_too_many_aliases_are_refused(gql):
    query = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(40)) + " }"
    body = await gql(query)
    assert code_of(body["errors"][0]) == "BAD_USER_INPUT"


async def test_oversized_body_is_refused(http):
    response = await http.post(
        "/graphql", content=b"{" + b" " * (2 << 20) + b"}", headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert code_of(response.json()["errors"][0]) == "BAD_USER_INPUT"


async def test_oversized_chunked_body_is_refused(http):
    """No Content-Length to check up front: the body is counted as it arrives."""

    async def chunks():
        yield b"{"
        for _ in range(3):
            yield b" " * (1 << 20)
        yield b"}"

    response = await http.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert code_of(response.json()["errors"][0]) == "BAD_USER_INPUT"


async def test_health_endpoints(http):
    assert (await http.get("/healthz")).status_code == 200
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    detail = (await http.get("/healthz/detail")).json()
    assert detail["services"] == {"identity": True, "contacts": True, "cases": True, "billing": True}


async def test_graphiql_is_served_locally(http):
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "unpkg.com" not in page.text and "jsdelivr" not in page.text
    assert "/graphiql-assets/" in page.text


async def test_too_costly_query_is_refused_even_inside_fragments(gql, tokens):
    token = await tokens("root@support.test")
    nested = "fragment U on UserConnection { edges { node { account { users(first: 100) { totalCount edges { node { id } } } } } } }"
    query = "{ accounts(first: 100) { edges { node { users(first: 100) { ...U } } } } } " + nested
    body = await gql(query, token=token)
    assert code_of(body["errors"][0]) == "BAD_USER_INPUT"
    assert "costly" in body["errors"][0]["message"]
    modest = "{ accounts(first: 10) { edges { node { users(first: 10) { edges { node { id } } } } } } }"
    assert "errors" not in await gql(modest, token=token)

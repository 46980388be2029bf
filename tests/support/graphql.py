"""Talking to the real gateway over HTTP."""

from __future__ import annotations

from typing import Any

import httpx


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The whole response body (data and errors)."""
        response = await self.raw(query, variables, token)
        assert response.headers["content-type"].startswith("application/json"), response.text
        return response.json()

    async def ok(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        """`data`, asserting there were no errors."""
        body = await self(query, variables, token)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The first error, asserting there is one; it must carry extensions.code."""
        body = await self(query, variables, token)
        assert body.get("errors"), f"expected an error, got {body}"
        error = body["errors"][0]
        assert "code" in error.get("extensions", {}), error
        return error

    async def login(self, email: str, password: str = "portal-demo-pass") -> dict[str, Any]:
        data = await self.ok(
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) "
            "{ accessToken refreshToken expiresAt user { id email role } } }",
            {"e": email, "p": password},
        )
        return data["login"]

    async def token(self, email: str, password: str = "portal-demo-pass") -> str:
        return (await self.login(email, password))["accessToken"]


def code_of(error: dict[str, Any]) -> str:
    return str(error["extensions"]["code"])

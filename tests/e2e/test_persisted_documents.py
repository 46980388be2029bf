"""Automatic persisted queries, trusted documents and batching (issue 15), through real gateways."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from devstack.embedded import serve_http
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.schema.root import schema
from services.identity.client import token_verifier

ME = "query Me { me { email } }"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _persisted(text: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": _hash(text)}}


async def test_apq_unknown_hash_then_registered_then_hash_only_over_get(http, tokens):
    headers = {"Authorization": f"Bearer {await tokens('user@acme.test')}"}
    text = ME + f" # {_hash(str(id(http)))}"  # a document this run has not registered yet
    unknown = await http.post("/graphql", json={"extensions": _persisted(text)}, headers=headers)
    error = unknown.json()["errors"][0]
    assert error["message"] == "PersistedQueryNotFound" and error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = await http.post("/graphql", json={"query": text, "extensions": _persisted(text)}, headers=headers)
    assert registered.json()["data"]["me"]["email"] == "user@acme.test"
    by_get = await http.get("/graphql", params={"extensions": json.dumps(_persisted(text))}, headers=headers)
    assert by_get.json() == {"data": {"me": {"email": "user@acme.test"}}}
    forged = await http.post(
        "/graphql", json={"query": "{ me { id } }", "extensions": _persisted(text)}, headers=headers
    )
    assert forged.json()["errors"][0]["extensions"]["reason"] == "HASH_MISMATCH"


@contextlib.asynccontextmanager
async def _gateway(stack, **options) -> AsyncIterator[httpx.AsyncClient]:
    addresses = {name: stack.address(name) for name in stack.services}
    app = create_app(ServiceClients(addresses), token_verifier(stack.address("identity")), None, **options)
    server, task, port = await serve_http(app)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def test_trusted_documents_mode_runs_only_the_front_ends_operations(stack, tokens, tmp_path: Path):
    folder = tmp_path / "operations"
    folder.mkdir()
    (folder / "me.graphql").write_text(ME)
    manifest = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": _hash("{ announcements { id } }"), "name": "A", "type": "query", "body": "{ announcements { id } }"}
        ],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    headers = {"Authorization": f"Bearer {await tokens('user@acme.test')}"}
    async with _gateway(stack, trusted_documents=str(folder)) as client:
        by_text = await client.post("/graphql", json={"query": ME}, headers=headers)
        assert by_text.json()["data"]["me"]["email"] == "user@acme.test"
        by_hash = await client.get(
            "/graphql", params={"extensions": json.dumps(_persisted("{ announcements { id } }"))}, headers=headers
        )
        assert "announcements" in by_hash.json()["data"]
        for body in ({"query": "{ me { id email } }"}, {"extensions": _persisted("{ me { id } }")}):
            refused = (await client.post("/graphql", json=body, headers=headers)).json()["errors"][0]
            assert refused["extensions"] == {"code": "FORBIDDEN", "reason": "UNTRUSTED_DOCUMENT"}
    (folder / "bad.json").write_text(json.dumps({"0" * 64: "{ me { id } }"}))
    with pytest.raises(ValueError, match="does not match"):
        create_app(ServiceClients({}), token_verifier(stack.address("identity")), None, trusted_documents=str(folder))


async def test_batching_is_off_by_default_and_each_batched_operation_meets_the_limits(http, tokens, monkeypatch):
    headers = {"Authorization": f"Bearer {await tokens('user@acme.test')}"}
    batch = [{"query": ME}, {"query": "{ me " + "{ account { admins " * 7 + "{ id }" + " } }" * 7 + " }"}]
    off = await http.post("/graphql", json=batch, headers=headers)
    assert off.status_code == 400 and off.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    monkeypatch.setattr(schema.config, "batching_config", {"max_operations": 3})  # PORTAL_GRAPHQL_BATCHING=3
    answers = (await http.post("/graphql", json=batch, headers=headers)).json()
    assert answers[0] == {"data": {"me": {"email": "user@acme.test"}}}
    assert answers[1]["errors"][0]["extensions"]["reason"] == "QUERY_TOO_DEEP"
    too_many = await http.post("/graphql", json=[{"query": ME}] * 4, headers=headers)
    assert too_many.status_code == 400

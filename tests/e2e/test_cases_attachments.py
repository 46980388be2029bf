"""Case attachments end to end (issue 11): multipart uploads (GraphQL multipart request spec), size and
type limits, storage in the cases service's database, and downloads through a short-lived gateway URL
that only the viewer it was issued to may use, while they may see the case."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from services.cases import rules
from tests.e2e.test_cases import CASE_FIELDS, LIST, new_case
from tests.support.graphql import code_of

CREATE = f"mutation($i: CreateCaseInput!) {{ createCase(input: $i) {{ {CASE_FIELDS} }} }}"
COMMENT = """mutation($id: ID!, $b: String!, $i: Boolean, $files: [Upload!]) {
  addCaseComment(caseId: $id, body: $b, internal: $i, attachments: $files) { id attachments { id filename url } } }"""
ATTACHMENTS = "query($id: ID) { case(id: $id) { attachments { id filename size contentType url } } }"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
LOG = b"2026-11-23 12:00:01 ERROR payment declined: 05\n" * 20


async def upload(http, token: str, query: str, variables: dict[str, Any], files: dict[str, tuple[str, bytes, str]]):
    """A GraphQL multipart request: `files` maps a variable path (e.g. "i.attachments.0") to a file."""
    paths = list(files)
    operations = {"query": query, "variables": variables}
    mapping = {str(n): [f"variables.{path}"] for n, path in enumerate(paths)}
    parts = {str(n): files[path] for n, path in enumerate(paths)}
    response = await http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
        files=parts,
        headers={"Authorization": f"Bearer {token}"},
    )
    return response


async def create_with(http, token: str, files: list[tuple[str, bytes, str]]) -> dict[str, Any]:
    variables = {"i": {**new_case(), "attachments": [None] * len(files)}}
    response = await upload(
        http, token, CREATE, variables, {f"i.attachments.{n}": file for n, file in enumerate(files)}
    )
    return response.json()


async def download(http, url: str, token: str | None):
    parts = urlsplit(url)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.get(f"{parts.path}?{parts.query}", headers=headers)


async def test_attachments_are_stored_and_downloaded_by_who_may_see_the_case(http, gql, tokens, stack, clock):
    user = await tokens("user@acme.test")
    body = await create_with(http, user, [("screen shot.png", PNG, "image/png"), ("../app.log", LOG, "text/plain")])
    assert not body.get("errors"), body
    case = body["data"]["createCase"]
    files = case["attachments"]
    assert [(a["filename"], a["contentType"], a["size"]) for a in files] == [
        ("screen shot.png", "image/png", len(PNG)),
        ("app.log", "text/plain", len(LOG)),
    ]
    stored = await stack.services["cases"].store.get_attachment(files[0]["id"])
    assert stored is not None and stored["content"] == PNG and stored["case_id"] == case["id"]
    got = await download(http, files[0]["url"], user)
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png" and got.headers["x-content-type-options"] == "nosniff"
    assert "attachment;" in got.headers["content-disposition"]
    assert (await download(http, files[1]["url"], user)).content == LOG
    # the account's MANAGER reads the case and gets their own link; the requester's link is not theirs
    manager = await tokens("manager@acme.test")
    own_link = (await gql.ok(ATTACHMENTS, {"id": case["id"]}, token=manager))["case"]["attachments"][0]["url"]
    assert (await download(http, own_link, manager)).content == PNG
    borrowed = await download(http, files[0]["url"], manager)
    assert (
        borrowed.status_code == 403 and borrowed.json()["errors"][0]["extensions"]["reason"] == "DOWNLOAD_LINK_INVALID"
    )
    # another account, with the link: as if the case did not exist
    outsider = await download(http, files[0]["url"], await tokens("admin@globex.test"))
    assert outsider.status_code == 404 and outsider.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (await download(http, files[0]["url"], None)).status_code == 401
    forged = files[0]["url"].replace("t=", "t=x")
    assert (await download(http, forged, user)).status_code == 403
    # after expiry
    clock.advance(timedelta(seconds=rules.TICKET_SECONDS + 1))
    expired = await download(http, files[0]["url"], user)
    assert expired.status_code == 410
    assert expired.json()["errors"][0]["extensions"]["reason"] == "DOWNLOAD_LINK_EXPIRED"
    fresh = (await gql.ok(ATTACHMENTS, {"id": case["id"]}, token=user))["case"]["attachments"][0]["url"]
    assert (await download(http, fresh, user)).content == PNG


async def test_too_large_and_disallowed_files_are_refused_and_nothing_is_made(http, gql, tokens):
    user = await tokens("user@acme.test")
    before = (await gql.ok(LIST, {}, token=user))["cases"]["totalCount"]
    refusals = [
        ([("huge.log", b"x" * (rules.MAX_ATTACHMENT_BYTES + 1), "text/plain")], "ATTACHMENT_TOO_LARGE"),
        (
            [("a.log", b"x" * (rules.MAX_ATTACHMENTS_BYTES // 2 + 10), "text/plain")] * 2,  # over the per-request total
            "ATTACHMENT_TOO_LARGE",
        ),
        ([("setup.exe", b"MZ\x90\x00" * 100, "image/png")], "ATTACHMENT_TYPE_NOT_ALLOWED"),
        ([("photo.png", b"MZ\x90\x00" * 100, "image/png")], "ATTACHMENT_TYPE_NOT_ALLOWED"),  # not a PNG inside
        ([("noext", b"hello", "text/plain")], "ATTACHMENT_TYPE_NOT_ALLOWED"),
        ([(f"f{i}.txt", b"hello", "text/plain") for i in range(rules.MAX_ATTACHMENTS + 1)], "TOO_MANY_ATTACHMENTS"),
        ([("empty.txt", b"", "text/plain")], "ATTACHMENT_EMPTY"),
    ]
    for files, reason in refusals:
        body = await create_with(http, user, files)
        error = body["errors"][0]
        assert (code_of(error), error["extensions"].get("reason")) == ("BAD_USER_INPUT", reason), (reason, error)
    too_big_body = await create_with(http, user, [("big.txt", b"x" * (5 * 1024 * 1024), "text/plain")])
    assert too_big_body["errors"][0]["extensions"]["reason"] == "BODY_TOO_LARGE"
    assert (await gql.ok(LIST, {}, token=user))["cases"]["totalCount"] == before


async def test_comment_attachments_follow_the_comment(http, gql, tokens):
    user = await tokens("user@acme.test")
    agent = await tokens("agent@support.test")
    case = (await gql.ok(CREATE, {"i": new_case()}, token=user))["createCase"]
    marker = uuid.uuid4().hex[:6]
    public = await upload(
        http,
        user,
        COMMENT,
        {"id": case["id"], "b": "the log", "files": [None]},
        {"files.0": (f"trace-{marker}.txt", b"trace", "text/plain")},
    )
    assert public.json()["data"]["addCaseComment"]["attachments"][0]["filename"] == f"trace-{marker}.txt"
    note = await upload(
        http,
        agent,
        COMMENT,
        {"id": case["id"], "b": "internal dump", "i": True, "files": [None]},
        {"files.0": ("dump.json", b'{"secret": true}', "application/json")},
    )
    note_file = note.json()["data"]["addCaseComment"]["attachments"][0]
    customer_view = (await gql.ok(ATTACHMENTS, {"id": case["id"]}, token=user))["case"]["attachments"]
    staff_view = (await gql.ok(ATTACHMENTS, {"id": case["id"]}, token=agent))["case"]["attachments"]
    assert [a["filename"] for a in customer_view] == [f"trace-{marker}.txt"]
    assert [a["filename"] for a in staff_view] == [f"trace-{marker}.txt", "dump.json"]
    assert (await download(http, note_file["url"], agent)).content == b'{"secret": true}'
    assert (await download(http, note_file["url"], user)).status_code == 404  # a note's file: staff only

"""One HTTP request to an ASGI app in this process, as uvicorn hands it over: for the execution bench
and for tests of the gateway's edge and pipeline that need no server."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from starlette.types import ASGIApp


async def call(
    app: ASGIApp,
    method: str,
    path: str,
    headers: Sequence[tuple[bytes, bytes]],
    body: bytes = b"",
    query_string: bytes = b"",
) -> list[MutableMapping[str, Any]]:
    """The ASGI messages the app sent: `http.response.start`, then the body's parts."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "root_path": "",
        "headers": list(headers),
        "server": ("127.0.0.1", 4000),
        "client": ("127.0.0.1", 50000),
        "state": {},
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent

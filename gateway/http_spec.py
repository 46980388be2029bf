"""GraphQL over HTTP (the spec's media types and status codes) around strawberry's view.

`application/graphql-response+json` when the client accepts it: a request error (the document does
not parse or validate, variables do not coerce: no `data`, errors without a `path`) is a 400 whose
body has no `data` entry. `application/json` (and no Accept header) keeps the legacy behaviour: 200.
An Accept header that allows neither is answered 406. GET results say how they may be cached.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
SUPPORTED = (GRAPHQL_RESPONSE, JSON)
ANONYMOUS_GET_MAX_AGE = 60


@functools.lru_cache(maxsize=256)  # a pure function of the header, which few clients vary
def negotiate(accept: str | None) -> str | None:
    """The media type to answer in, or None when the client accepts neither (406)."""
    if not accept or not accept.strip():
        return JSON
    best, best_q = None, 0.0
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        # a wildcard means the legacy application/json; the spec's type only when asked for by name
        candidates = (JSON,) if media in ("*/*", "application/*") else (media,) if media in SUPPORTED else ()
        for candidate in candidates:
            # higher q wins; on a tie, the spec's own type
            better = q > best_q or (q == best_q and candidate == GRAPHQL_RESPONSE and best != GRAPHQL_RESPONSE)
            if q > 0 and better:
                best, best_q = candidate, q
    return best


def wants_ide(request: Request) -> bool:
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
    )


def shape(request: Request, response: Response, media: str) -> Response:
    """Apply the spec's status code and media type for `media`, and GET caching headers."""
    body: Any = None
    if media == GRAPHQL_RESPONSE and response.status_code in (200, 400) and b'"errors"' in response.body:
        body = json.loads(bytes(response.body))
        errors = body.get("errors") or []
        if body.get("data") is None and errors and all("path" not in e for e in errors):
            body.pop("data", None)  # a request error: nothing was executed
            response.status_code = 400
    if body is not None:
        response.body = json.dumps(body, separators=(",", ":")).encode()
        response.headers["content-length"] = str(len(response.body))
    response.headers["content-type"] = f"{media}; charset=utf-8"
    if request.method == "GET":
        response.headers["vary"] = "Accept, Authorization"
        anonymous = "authorization" not in request.headers
        if anonymous and response.status_code == 200 and b'"errors"' not in response.body:
            response.headers["cache-control"] = f"public, max-age={ANONYMOUS_GET_MAX_AGE}"
        else:
            response.headers["cache-control"] = "private, no-store"
    return response

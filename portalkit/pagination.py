"""Opaque page tokens over `_id` order (ids grow with creation time), and the page-size cap."""

from __future__ import annotations

import base64
import json
from typing import Any

from bson import ObjectId

from portalkit.errors import InvalidInput

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


def new_id(prefix: str) -> str:
    """Typed, time-ordered ids, e.g. `usr_6650f0c2a1b2c3d4e5f60718`; the prefix names the type."""
    return f"{prefix}_{ObjectId()}"


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidInput("page size must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    if not token:
        return ""
    try:
        payload: Any = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return str(payload["after"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("invalid page token") from exc


async def fetch_page(
    collection: Any, filter: dict[str, Any], requested_size: int, token: str
) -> tuple[list[dict[str, Any]], str, int]:
    """One page of `collection` (a TracedCollection) in id order: (docs, next token, total count)."""
    size = page_size(requested_size)
    after = decode_token(token)
    page_filter = {**filter, "_id": {"$gt": after}} if after else filter
    docs = await collection.find_many(page_filter, sort=[("_id", 1)], limit=size + 1)
    total = await collection.count(filter)
    next_token = encode_token(docs[size - 1]["_id"]) if len(docs) > size else ""
    return docs[:size], next_token, total

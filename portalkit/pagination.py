"""Cursor pagination owned by the service that pages.

A page is read in an `Ordering` (sort keys, each ascending or descending, `_id` always last as the
tie-breaker, so the order is total and stable under ties). A cursor is an opaque token holding the
ordering's name and the sort-key values of one document; the next page starts strictly after it
(keyset pagination: no skip, no drift when documents are added before the cursor). Sort fields must
be present and non-null on every document of the collection (store "" rather than null).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from portalkit.errors import InvalidInput
from portalkit.mongo import Document, TracedCollection

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
ASC, DESC = 1, -1


@dataclass(frozen=True)
class Ordering:
    """A named sort order, e.g. `Ordering("name_asc", (("name_lower", ASC),))`."""

    name: str
    keys: tuple[tuple[str, int], ...] = ()

    @property
    def sort(self) -> list[tuple[str, int]]:
        return [*self.keys, ("_id", self.keys[0][1] if self.keys else ASC)]


BY_ID = Ordering("id")


@dataclass(frozen=True)
class Page:
    docs: list[Document]
    cursors: list[str]  # one per doc: resuming from cursors[i] starts right after docs[i]
    next_token: str  # "" on the last page
    total: int


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidInput("page size must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _value_of(doc: Document, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$dt"}:
        parsed = datetime.fromisoformat(str(value["$dt"]))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, str | int | float | bool):
        return value
    raise ValueError("unexpected value in a page token")


def cursor_of(doc: Document, ordering: Ordering) -> str:
    payload = {"o": ordering.name, "k": [_encode_value(_value_of(doc, field)) for field, _ in ordering.sort]}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(token: str, ordering: Ordering) -> list[Any]:
    try:
        payload: Any = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if payload["o"] != ordering.name or len(payload["k"]) != len(ordering.sort):
            raise ValueError("token of another ordering")
        return [_decode_value(v) for v in payload["k"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("invalid page token; start again from the first page", reason="INVALID_CURSOR") from exc


def after_filter(token: str, ordering: Ordering) -> dict[str, Any]:
    """The filter for documents strictly after the cursor in `ordering` ({} without a token)."""
    if not token:
        return {}
    values = _decode_cursor(token, ordering)
    branches = []
    sort = ordering.sort
    for depth, (field, direction) in enumerate(sort):
        branch = {sort[i][0]: values[i] for i in range(depth)}
        branch[field] = {"$gt" if direction == ASC else "$lt": values[depth]}
        branches.append(branch)
    return {"$or": branches}


async def fetch_page(
    collection: TracedCollection,
    filter: dict[str, Any],
    requested_size: int,
    token: str,
    ordering: Ordering = BY_ID,
) -> Page:
    """One page of the documents matching `filter`, in `ordering`, after `token`."""
    size = page_size(requested_size)
    after = after_filter(token, ordering)
    page_filter = {"$and": [filter, after]} if after and filter else after or filter
    docs = await collection.find_many(page_filter, sort=ordering.sort, limit=size + 1)
    total = await collection.count(filter)
    docs, more = docs[:size], len(docs) > size
    cursors = [cursor_of(doc, ordering) for doc in docs]
    return Page(docs, cursors, cursors[-1] if more else "", total)

"""Types every part of the graph shares: Node, PageInfo, Money, connection helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import strawberry
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.errors import bad_input
from portalkit.pagination import MAX_PAGE_SIZE


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Money:
    amount: Decimal
    currency: str


def page_size(first: int | None) -> int:
    """`first` is capped at 100 (the contract's convention); negative is an error."""
    if first is None:
        return 50
    if first < 0:
        raise bad_input("first must not be negative")
    return min(first, MAX_PAGE_SIZE)


def page_info(cursors: list[str], next_page_token: str) -> PageInfo:
    """Cursors are the paging service's own (opaque), so `after: cursor` resumes right after it."""
    return PageInfo(has_next_page=bool(next_page_token), end_cursor=cursors[-1] if cursors else None)


def dt(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def optional_dt(message: object, field: str) -> datetime | None:
    return dt(getattr(message, field)) if message.HasField(field) else None  # type: ignore[attr-defined]

"""Types every part of the graph shares: Node, PageInfo, Money, connection helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import strawberry
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.errors import bad_input
from portalkit.pagination import MAX_PAGE_SIZE, encode_token


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


def edge_cursor(item_id: str) -> str:
    """Edge cursors are the services' page tokens, so `after: cursor` resumes right after it."""
    return encode_token(item_id)


def page_info(ids: list[str], next_page_token: str) -> PageInfo:
    return PageInfo(has_next_page=bool(next_page_token), end_cursor=edge_cursor(ids[-1]) if ids else None)


def dt(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def optional_dt(message: object, field: str) -> datetime | None:
    return dt(getattr(message, field)) if message.HasField(field) else None  # type: ignore[attr-defined]

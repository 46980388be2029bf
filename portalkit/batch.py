"""Batch reads: the one cap every service and every gateway DataLoader share, and the one way a
service answers `BatchGet…` (request order kept, duplicates allowed, missing and unreadable ids
absent)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from portalkit.errors import InvalidInput

# Ids per BatchGet call. Gateway DataLoaders use it as `max_batch_size`, so they never send more.
MAX_BATCH = 100

Doc = TypeVar("Doc", bound=dict[str, Any])


async def batch_get(
    ids: Sequence[str],
    fetch: Callable[[list[str]], Awaitable[list[Doc]]],
    may_read: Callable[[Doc], bool],
) -> list[Doc]:
    """The documents for `ids`, in request order (a repeated id appears again); ids that do not
    exist or that `may_read` refuses are left out. More than MAX_BATCH distinct ids is refused."""
    distinct = list(dict.fromkeys(ids))
    if len(distinct) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} ids per batch", reason="BATCH_TOO_LARGE")
    found = {doc["_id"]: doc for doc in await fetch(distinct) if may_read(doc)} if distinct else {}
    return [found[i] for i in ids if i in found]

"""Cursor pagination in every ordering the contract offers (stable under ties, both directions,
text and time keys), and the one batch read."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portalkit.batch import MAX_BATCH, batch_get
from portalkit.errors import InvalidInput
from portalkit.mongo import connect
from portalkit.outbox import AggregateCollection
from portalkit.pagination import ASC, DESC, Ordering, after_filter, fetch_page

T0 = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # a daylight-saving change in US Eastern time
# The contract's orderings, as a service would declare them (ContactOrder, CaseOrder, invoices).
ORDERINGS = [
    Ordering("name_asc", (("name", ASC),)),
    Ordering("name_desc", (("name", DESC),)),
    Ordering("email_asc", (("email", ASC),)),
    Ordering("updated_desc", (("updated_at", DESC),)),
    Ordering("priority_then_created", (("priority", DESC), ("created_at", ASC))),
    Ordering("due_date_asc", (("due_date", ASC),)),
]


def _docs() -> list[dict]:
    docs = []
    for i in range(37):
        docs.append(
            {
                "_id": f"doc_{i:03d}",
                "name": ["ada", "bob", "cy"][i % 3],  # many ties
                "email": f"p{(i * 7) % 37:02d}@x.test",
                "updated_at": T0 + timedelta(minutes=(i * 13) % 5),  # ties on time too
                "priority": i % 4,
                "created_at": T0 - timedelta(hours=i % 6),
                "due_date": (T0 + timedelta(days=i % 4)).date().isoformat(),
            }
        )
    return docs


@pytest.fixture(scope="module")
async def collection():
    things = AggregateCollection(connect("memory://", "unit_paging"), "things")
    for doc in _docs():
        await things.insert(doc)
    return things


def _expected(ordering: Ordering) -> list[str]:
    docs = _docs()
    for field, direction in reversed(ordering.sort):  # stable sorts, last key first
        docs.sort(key=lambda d, f=field: d[f], reverse=direction == DESC)
    return [d["_id"] for d in docs]


@pytest.mark.parametrize("ordering", ORDERINGS, ids=lambda o: o.name)
@pytest.mark.parametrize("size", [1, 5, 36, 50])
async def test_paging_visits_every_document_once_in_order(collection, ordering, size):
    seen, token, pages = [], "", 0
    while True:
        page = await collection_page(collection, ordering, size, token)
        assert page.total == 37 and len(page.docs) <= size and len(page.cursors) == len(page.docs)
        seen += [d["_id"] for d in page.docs]
        pages += 1
        token = page.next_token
        if not token:
            break
    assert seen == _expected(ordering)
    assert pages == -(-37 // size)


async def collection_page(collection, ordering, size, token):
    return await fetch_page(collection, {}, size, token, ordering)


async def test_each_cursor_resumes_right_after_its_document_and_filters_still_apply(collection):
    ordering = ORDERINGS[3]
    first = await fetch_page(collection, {"name": "bob"}, 4, "", ordering)
    expected = [i for i in _expected(ordering) if int(i[-3:]) % 3 == 1]
    assert [d["_id"] for d in first.docs] == expected[:4] and first.total == len(expected)
    resumed = await fetch_page(collection, {"name": "bob"}, 3, first.cursors[1], ordering)
    assert [d["_id"] for d in resumed.docs] == expected[2:5]


async def test_tokens_of_another_ordering_or_garbage_are_refused(collection):
    page = await fetch_page(collection, {}, 2, "", ORDERINGS[0])
    with pytest.raises(InvalidInput, match="invalid page token") as refused:
        await fetch_page(collection, {}, 2, page.next_token, ORDERINGS[1])
    assert refused.value.reason == "INVALID_CURSOR"
    for garbage in ("x", "!!!", "e30", "eyJvIjoibmFtZV9hc2MiLCJrIjpbeyJhIjoxfSwiYSJdfQ"):
        with pytest.raises(InvalidInput):
            await fetch_page(collection, {}, 2, garbage, ORDERINGS[0])
    with pytest.raises(InvalidInput):
        await fetch_page(collection, {}, -1, "", ORDERINGS[0])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_token_is_read_or_refused_cleanly(raw):
    with contextlib.suppress(InvalidInput):
        condition = after_filter(raw, ORDERINGS[4])
        # a token that decodes is a keyset condition over exactly the ordering's keys
        assert condition == {} or [set(branch) for branch in condition["$or"]][-1] == {
            "priority",
            "created_at",
            "_id",
        }


async def test_batch_get_keeps_order_and_repeats_and_drops_unknown_and_unreadable():
    async def fetch(ids):
        return [{"_id": i, "account": "a" if i != "z" else "b"} for i in ids if i != "missing"]

    def readable(doc):
        return doc["account"] == "a"

    found = await batch_get(["b", "missing", "z", "a", "b"], fetch, readable)
    assert [d["_id"] for d in found] == ["b", "a", "b"]
    assert await batch_get([], fetch, readable) == []
    distinct = [f"id{i}" for i in range(MAX_BATCH)]
    assert len(await batch_get(distinct + distinct, fetch, readable)) == 2 * MAX_BATCH
    with pytest.raises(InvalidInput, match=f"at most {MAX_BATCH}"):
        await batch_get([*distinct, "one more"], fetch, readable)


def test_every_ordering_ends_with_the_id_as_tie_breaker_in_its_direction():
    assert ORDERINGS[0].sort == [("name", ASC), ("_id", ASC)]
    assert ORDERINGS[3].sort == [("updated_at", DESC), ("_id", DESC)]

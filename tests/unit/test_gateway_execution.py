"""The gateway's executor shortcuts (gateway/schema/execution.py) give what graphql-core's own path
gives: the same data and the same errors, for every kind of field the shortcut takes or refuses."""

from __future__ import annotations

import asyncio
import enum
import functools
import json
from dataclasses import dataclass, field
from typing import Any, NewType

import pytest
import strawberry
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gateway.context import PortalContext
from gateway.schema.common import Reference
from gateway.schema.execution import PrefetchingExecutor, resolve_references_directly
from gateway.schema.root import schema as portal_schema
from tests.support.graph_scalars import SCALARS as GRAPH_SCALARS

PORTAL_SDL = portal_schema.as_str()
Shouty = NewType("Shouty", str)
SCALARS = {Shouty: strawberry.scalar(name="Shouty", serialize=lambda v: v.upper(), parse_value=str)}


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Never(BasePermission):
    message = "not for you"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


@strawberry.interface
class Labelled:
    label: str


@strawberry.type
class Part(Labelled):
    broken: str | None  # None: fine here

    @strawberry.field
    def strict(self) -> str:  # non-null: a None from it is an error that nulls the part
        return self.broken  # type: ignore[return-value]


@dataclass
class Impostor:
    """Not a Part: graphql-core's is_type_of refuses it (Part implements an interface)."""

    label: str = "fake"
    broken: str | None = "fake"


@strawberry.type
class Item:
    name: str
    count: int
    ratio: float | None
    colour: Colour
    loud: Shouty
    missing: str  # non-null, but the source holds None: an error, located
    wrong: int  # the source holds a str that is not an int: an error
    secret: str = strawberry.field(permission_classes=[Never])
    renamed: str = strawberry.field(name="alias")
    key: str = ""
    colours: list[Colour] = strawberry.field(default_factory=list)  # a list of leaves: the Leaf's list coercion
    maybe: list[str | None] | None = None
    part: Part | None = None  # a plain object attribute: the executor's object shortcut
    whole: Part = strawberry.field(default_factory=lambda: Part(label="whole", broken="b"))

    @strawberry.field
    def computed(self) -> str:
        return self.name + "!"

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return self.name + "?"

    @strawberry.field
    def owner(self, info: strawberry.Info) -> Item | None:
        return REFERENCES["Item"]["owner"].resolve(info, self)

    @strawberry.field
    def sibling(self, info: strawberry.Info, nth: int = 1) -> Item | None:  # a reference with arguments
        return REFERENCES["Item"]["sibling"].resolve(info, self, nth=nth)


ITEMS = [
    Item(
        name=f"n{i}",
        count=i,
        ratio=None if i % 2 else i / 3,
        colour=Colour.RED if i % 2 else Colour.BLUE,
        loud=Shouty(f"x{i}"),
        missing=None if i == 1 else "here",  # type: ignore[arg-type]
        wrong="nope" if i == 2 else i,  # type: ignore[arg-type]
        secret="s",
        renamed=f"r{i}",
        key="" if i == 0 else "owner",
        colours=[Colour.RED, "nope"] if i == 2 else [Colour.BLUE] * i,  # type: ignore[list-item]
        maybe=[None, "m"] if i % 2 else None,
        part=[None, Part(label="p1", broken=None), Impostor(), Part(label="p3", broken="b3")][i],  # type: ignore[arg-type]
        whole=Part(label=f"w{i}", broken=None if i == 3 else "b"),
    )
    for i in range(4)
]
OWNER = ITEMS[3]


@dataclass
class LoaderContext:
    """What Reference reads from a request's context: a DataLoader per loader factory, and the
    request's conversions (PortalContext's own)."""

    loads: list[list[str]]
    _converted: dict[Any, Any] = field(default_factory=dict)

    def converted(self, convert: Any, message: Any) -> Any:
        return PortalContext.converted(self, convert, message)  # type: ignore[arg-type]

    def loader(self, factory: Any) -> Any:
        from strawberry.dataloader import DataLoader

        if not hasattr(self, "_loader"):

            async def load(keys: list[str]) -> list[Any]:
                self.loads.append(list(keys))
                return [OWNER for _ in keys]

            self._loader = DataLoader(load_fn=load)
        return self._loader


CONVERSIONS: list[Item] = []  # each message the owner reference converted


def _owner(found: Item, _: Any) -> Item:
    CONVERSIONS.append(found)
    return found


def _nth(nth: int) -> tuple[int]:
    if nth < 1:
        raise ValueError("nth counts from 1")
    return (nth,)


REFERENCES = {
    "Item": {
        "owner": Reference(lambda ctx: None, "key", _owner),  # type: ignore[arg-type,return-value]
        "sibling": Reference(lambda ctx: None, "key", _owner, _nth),  # type: ignore[arg-type,return-value]
    }
}


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return ITEMS

    @strawberry.field
    def item(self) -> Item:
        return ITEMS[0]


QUERY = """{ items { name count ratio colour loud alias computed key maybe owner { name alias colours part { label } }
  whole { label broken } } item { name colour whole { label } } }"""
ERRORING = [
    "{ items { name missing } }",
    "{ items { name wrong } }",
    "{ items { name maybe colours } }",  # item 2's colours hold a value that is not a Colour
    "{ items { name secret } }",
    "{ items { name part { label broken } } }",  # item 2's part is not a Part
    "{ items { name whole { label strict } } }",  # item 3's whole.strict is null: the item is nulled
    "{ items { owner { whole { strict } } } }",  # through a reference
]


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    class Prefetching(PrefetchingExecutor):
        references = REFERENCES

    config = StrawberryConfig(scalar_map=SCALARS)
    plain = strawberry.Schema(Query, config=config, execution_context_class=StrawberryGraphQLCoreExecutionContext)
    fast = strawberry.Schema(Query, config=config, execution_context_class=Prefetching)
    resolve_references_directly(fast._schema, REFERENCES)
    return plain, fast


def _run(schema: strawberry.Schema, query: str) -> tuple[Any, list[tuple[str, tuple[Any, ...]]], list[list[str]]]:
    ctx = LoaderContext(loads=[])
    result = asyncio.run(schema.execute(query, context_value=ctx))
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors, ctx.loads


def test_the_shortcuts_answer_what_graphql_core_answers() -> None:
    plain, fast = _schemas()
    expected = _run(plain, QUERY)
    assert expected[1] == []  # the comparison is of real data
    assert expected[0]["items"][0] == {
        "name": "n0",
        "count": 0,
        "ratio": 0.0,
        "colour": "BLUE",
        "loud": "X0",
        "alias": "r0",
        "computed": "n0!",
        "key": "",
        "maybe": None,
        "owner": None,
        "whole": {"label": "w0", "broken": "b"},
    }
    assert expected[0]["items"][1]["owner"]["part"] == {"label": "p3"}
    assert (
        expected[0]["items"][1]["maybe"] == [None, "m"] and expected[0]["items"][1]["owner"]["colours"] == ["BLUE"] * 3
    )
    assert _run(fast, QUERY) == expected


def test_nulls_bad_values_and_denied_fields_err_the_same_way() -> None:
    plain, fast = _schemas()
    for query in ERRORING:
        expected = _run(plain, query)
        assert expected[1], query  # each of these is an error on graphql-core's path
        assert _run(fast, query) == expected, query


def test_a_list_of_references_is_loaded_in_one_batch() -> None:
    _, fast = _schemas()
    data, errors, loads = _run(fast, "{ items { owner { name } } }")
    assert errors == []
    assert [item["owner"] for item in data["items"]] == [None, {"name": "n3"}, {"name": "n3"}, {"name": "n3"}]
    assert len(loads) == 1


@pytest.fixture
def plan_runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool, bool]]:
    """Each Plan.run while the test runs: (the source's class name, whether the plan leaves fields
    to graphql-core, whether it answered)."""
    from gateway.schema.execution import Plan

    runs: list[tuple[str, bool, bool]] = []
    run = Plan.run

    def recorded(plan: Plan, source: Any, context: Any) -> Any:
        completed = run(plan, source, context)
        runs.append((type(source).__name__, plan.rest is not None, completed is not None))
        return completed

    monkeypatch.setattr(Plan, "run", recorded)
    return runs


def test_a_plan_leaves_the_fields_it_cannot_take_to_graphql_core_in_their_place(
    plan_runs: list[tuple[str, bool, bool]],
) -> None:
    plain, fast = _schemas()
    # a resolver and an async one among plain fields, in a list item and in its reference
    query = "{ items { later name computed count whole { label broken } colour owner { name later } } }"
    expected, got = _run(plain, query), _run(fast, query)
    assert json.dumps(got) == json.dumps(expected)  # the same values, keys in selection order
    assert not expected[1] and expected[0]["items"][1]["later"] == "n1?"
    assert ("Item", True, True) in plan_runs and ("Part", False, True) in plan_runs
    for bad in ERRORING:  # the rest's errors and null propagation are graphql-core's own
        query = bad.replace("{ items {", "{ items { later computed ")
        # (the data and errors: the prefetch may load what an error then throws away)
        assert json.dumps(_run(fast, query)[:2]) == json.dumps(_run(plain, query)[:2]), query


def test_a_reference_with_arguments_is_loaded_for_the_list_with_them_and_read_by_the_plan(
    plan_runs: list[tuple[str, bool, bool]],
) -> None:
    plain, fast = _schemas()
    query = "query($n: Int!) { items { name sibling(nth: $n) { name } again: sibling { name } } }"
    expected = asyncio.run(plain.execute(query, {"n": 3}, context_value=LoaderContext(loads=[])))
    ctx = LoaderContext(loads=[])
    result = asyncio.run(fast.execute(query, {"n": 3}, context_value=ctx))
    assert result.data == expected.data and not result.errors and expected.data is not None
    assert ctx.loads == [[("owner", 3), ("owner", 1)]]  # one batch for the list, both arguments in it
    assert [answered for _, _, answered in plan_runs] == [True] * 10  # each item and each sibling (items 1-3: two)
    for bad in ["{ items { name sibling(nth: 0) { name } } }", "{ items { sibling(nth: 0) { name } owner { name } } }"]:
        assert _run(fast, bad) == _run(plain, bad), bad  # each item's resolver reports it, located
        assert _run(fast, bad)[1][0] == ("nth counts from 1", ("items", 1, "sibling")), bad


def test_reading_a_reference_that_is_not_loaded_starts_no_read() -> None:
    """A plan tries a page's first item before the page's prefetch: a read started by that try
    would go out in a batch of its own once the prefetch awaits (two calls for one list level)."""
    from gateway.schema.common import NOT_LOADED

    owner = REFERENCES["Item"]["owner"]

    async def looked_then_loaded() -> list[list[str]]:
        ctx: Any = LoaderContext(loads=[])  # what Reference reads of a PortalContext
        assert owner.loaded(ITEMS[1], ctx) is NOT_LOADED
        await asyncio.sleep(0.01)  # a batch started by the look would go out meanwhile
        assert ctx.loads == []
        await asyncio.gather(*owner.prefetch(ctx, ITEMS))
        assert owner.loaded(ITEMS[1], ctx) is OWNER and owner.loaded(ITEMS[0], ctx) is None  # no key: none
        return ctx.loads

    assert asyncio.run(looked_then_loaded()) == [["owner"]]


def test_a_message_loaded_once_is_converted_once_per_request() -> None:
    _, fast = _schemas()
    for _request in range(2):
        CONVERSIONS.clear()
        data, errors, _ = _run(fast, "{ items { owner { name } } item { owner { name } } }")
        assert errors == [] and data["item"]["owner"] is None
        assert [item["owner"] for item in data["items"]][1:] == [{"name": "n3"}] * 3
        assert CONVERSIONS == [OWNER]  # three items reference it: one conversion, in each request


def test_converted_tells_messages_apart() -> None:
    ctx = LoaderContext(loads=[])
    first, second = Part(label="a", broken=None), Part(label="a", broken=None)  # equal, but two messages
    made: list[Part] = []

    def convert(message: Part, _: Any) -> object:
        made.append(message)
        return object()

    a, b = ctx.converted(convert, first), ctx.converted(convert, second)
    assert a is not b and ctx.converted(convert, first) is a and made == [first, second]


@strawberry.type
class WithArgs:
    @strawberry.field
    def owner(self, first: int) -> str:
        return ""


@strawberry.type
class ArgsQuery:
    thing: WithArgs


def test_a_reference_field_with_arguments_is_refused() -> None:
    schema = strawberry.Schema(ArgsQuery)
    try:
        resolve_references_directly(schema._schema, {"WithArgs": {"owner": REFERENCES["Item"]["owner"]}})
    except TypeError as error:
        assert "WithArgs.owner" in str(error)
    else:
        raise AssertionError("a field with arguments was taken as a plain reference")


def test_the_shortcuts_are_taken_where_they_apply() -> None:
    from gateway.schema.execution import Child, Leaf

    _, fast = _schemas()
    _run(fast, QUERY)
    item_type = fast._schema.type_map["Item"]
    kinds = {
        name: type(shortcut) for (owner, name), shortcut in PrefetchingExecutor._shortcuts.items() if owner is item_type
    }
    assert kinds["name"] is Leaf and kinds["colour"] is Leaf
    assert kinds["whole"] is Child and kinds["owner"] is Child  # a plain object attribute, a reference
    assert kinds["computed"] is type(None)  # a resolver: graphql-core's path


def test_a_selection_of_plain_fields_is_completed_by_its_plan_and_the_rest_by_graphql_core(
    plan_runs: list[tuple[str, bool, bool]],
) -> None:
    def runs() -> list[tuple[str, bool]]:
        return [(source, answered) for source, _, answered in plan_runs]

    plain, fast = _schemas()
    query = "{ items { __typename name count ratio colour loud alias key whole { __typename label broken } } }"
    assert _run(fast, query) == _run(plain, query)
    assert runs().count(("Item", True)) == 4 and runs().count(("Part", True)) == 4  # nulls where allowed
    plan_runs.clear()
    query = "{ items { name wrong part { label } } }"  # item 2: a str for an Int, and its part no Part
    assert _run(fast, query) == _run(plain, query)
    assert runs() == [("Item", True), ("Part", True), ("Item", True), ("Item", False)]  # the error ends the list
    plan_runs.clear()
    query = "{ items { name owner { name } } }"  # the owners are prefetched for the list: loaded
    assert _run(fast, query) == _run(plain, query)
    assert ("Item", True) in runs()


USER_FIELDS = "__typename id email name role status team createdAt lastLoginAt"
PORTAL_QUERIES = [
    "{ me { " + USER_FIELDS + " account { __typename id number name portalEnabled } } }",
    "{ users(first: 50) { __typename totalCount pageInfo { hasNextPage endCursor } edges { __typename cursor"
    " node { " + USER_FIELDS + " account { __typename id name } } } } }",
    "{ cases(first: 50) { edges { cursor node { __typename id number refTag requesterEmail subject description"
    " product environment errorMessage issueStartedAt accountNumbers priority status team channel createdAt"
    " updatedAt closedAt attachments { id } requester { " + USER_FIELDS + " } assignee { id } relatedCase { id }"
    " account { name } } } } }",
    # nested pages, prefetched for the list with the selection's arguments, and read by plans
    "{ cases(first: 50) { edges { node { id comments(first: 1) { totalCount pageInfo { hasNextPage endCursor }"
    " edges { cursor node { id authorEmail body internal channel createdAt author { email } } } }"
    " all: comments { __typename totalCount } } } } }",
    "query($role: Role) { accounts(first: 5) { edges { node { name admins { email role }"
    " users(first: 1, role: $role) { totalCount pageInfo { hasNextPage } edges { node { email account { name } } } }"
    " contacts(first: 2) { totalCount edges { node { firstName email } } }"
    " billing { accountBalance { amount currency } openInvoiceCount paymentMethodTypes } } } } }",
    "{ contacts(first: 50) { totalCount edges { node { id firstName email account { name } user { email } } } } }",
    # each alias of an edge's node selects references of its own: all are prefetched, in one round
    "{ accounts(first: 5) { edges { node { name clientSuccessManager { name } }"
    " a1: node { billing { openInvoiceCount } } } } }",
]
# service calls when the executor answers: one per service and list level (and distinct page arguments)
NESTED_CALLS = {PORTAL_QUERIES[3]: 4, PORTAL_QUERIES[4]: 6, PORTAL_QUERIES[5]: 3, PORTAL_QUERIES[6]: 2}


@functools.cache
def _plain_portal_schema() -> strawberry.Schema:
    """The portal's schema on graphql-core's own executor: no prefetch, shortcut or plan."""
    from gateway.schema.root import DOMAINS, Mutation, Query, Subscription

    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[t for d in DOMAINS for t in d.TYPES],
        execution_context_class=StrawberryGraphQLCoreExecutionContext,
    )


def test_on_the_portals_schema_the_executor_answers_what_graphql_core_answers() -> None:
    """The portal's own types (conversion on read, references, plans) against services answering
    from memory, with messages that leave optional fields out, then one that breaks a non-null one."""
    from devstack.bench_execution import MemoryServices, verified_context
    from gateway.clients import ServiceClients

    plain, schema = _plain_portal_schema(), portal_schema
    services = MemoryServices()
    for user in services.users[::3]:
        user.ClearField("last_login_at")
    services.users[4].team = 2  # a staff team on one
    services.cases[5].closed_at.FromSeconds(1_800_000_000)
    services.cases[8].requester_id = ""
    clients = ServiceClients(addresses={}, stubs=services.stubs())

    async def answer(
        on: strawberry.Schema, query: str, variables: dict[str, Any] | None = None
    ) -> tuple[Any, list[tuple[str, tuple[Any, ...]]]]:
        result = await on.execute(query, variable_values=variables, context_value=verified_context(clients))
        await asyncio.sleep(0.01)  # graphql-core settles an errored list's other items in the background
        return result.data, sorted((e.message, tuple(e.path or ())) for e in result.errors or [])

    for query in PORTAL_QUERIES:
        for variables in [None, {"role": "ADMIN"}] if "$role" in query else [None]:
            expected = asyncio.run(answer(plain, query, variables))
            assert expected[0] is not None and not expected[1], query
            for _ in range(2):  # the second time, the document runs straight on the executor
                services.calls = 0
                assert asyncio.run(answer(schema, query, variables)) == expected, query
                assert services.calls == NESTED_CALLS.get(query, services.calls), query
    nested = asyncio.run(answer(schema, PORTAL_QUERIES[3]))[0]["cases"]["edges"][0]["node"]
    assert nested["comments"]["totalCount"] == 2 and len(nested["comments"]["edges"]) == 1  # real pages
    bad = "{ cases(first: 50) { edges { node { id comments(first: -1) { totalCount } } } } }"
    expected = asyncio.run(answer(plain, bad))
    assert expected[0] is None and expected[1][0] == (
        "first must not be negative",
        ("cases", "edges", 0, "node", "comments"),
    )
    for _ in range(2):
        assert asyncio.run(answer(schema, bad)) == expected
    services.cases[7].status = 0  # unspecified: not a CaseStatus, so the page is an error (all non-null)
    clients.stubs = services.stubs()  # replies are remembered by request: new ones
    expected = asyncio.run(answer(plain, PORTAL_QUERIES[2]))
    assert expected[0] is None and [path for _, path in expected[1]] == [("cases", "edges", 7, "node", "status")]
    data, errors = asyncio.run(answer(schema, PORTAL_QUERIES[2]))
    assert data is None and [path for _, path in errors] == [path for _, path in expected[1]]  # the portal's
    assert errors[0][0] == "internal error"  # error shaping tells the client no more than that


# lists inside what a list's references load, whose items select references of their own
READ_AHEAD = {
    "{ cases(first: 50) { edges { node { id comments(first: 3) { totalCount edges { cursor node { id body"
    " author { name account { name } } } } } } } } }": ("Case", 4),
    "{ accounts(first: 5) { edges { node { name admins { email account { name } } } } } }": ("Account", 3),
}


@pytest.mark.parametrize("query", list(READ_AHEAD))
def test_references_inside_loaded_lists_are_read_ahead_and_the_items_completed_by_plans(
    query: str, plan_runs: list[tuple[str, bool, bool]]
) -> None:
    """Each case's comment authors (and their accounts), each account's admins' accounts: read for
    the whole page, one batch call per level, before any item is completed, so that each node's
    plan answers it whole: no item is completed again on graphql-core's path."""
    from devstack.bench_execution import MemoryServices, verified_context
    from gateway.clients import ServiceClients

    services = MemoryServices()
    services.users[3].account_id = "acc_none"  # an author whose account is not found: a null, in a plan
    clients = ServiceClients(addresses={}, stubs=services.stubs())

    def answer(on: strawberry.Schema) -> Any:
        result = asyncio.run(on.execute(query, context_value=verified_context(clients)))
        assert not result.errors, result.errors
        return result.data

    expected = answer(_plain_portal_schema())
    owner, calls = READ_AHEAD[query]
    answer(portal_schema)  # the first time: the document is validated on Strawberry's path
    plan_runs.clear()
    services.calls = 0
    assert json.dumps(answer(portal_schema)) == json.dumps(expected)
    assert services.calls == calls
    # only the page's own plan, tried before its list is read ahead, stops at its first node
    assert [run for run in plan_runs if not run[2]] == [
        (owner, False, False),
        ("Edge", False, False),
        ("Connection", False, False),
    ]
    nodes = [edge["node"] for edge in next(iter(expected.values()))["edges"]]

    def objects(value: Any) -> int:
        if isinstance(value, list):
            return sum(objects(item) for item in value)
        return 1 + sum(objects(v) for v in value.values()) if isinstance(value, dict) else 0

    # every object beneath the page's edges, each by its own plan
    assert sum(answered for _, _, answered in plan_runs) == objects(next(iter(expected.values()))["edges"])
    inner = [value for node in nodes for value in node.values() if isinstance(value, dict | list) and value]
    assert inner, "the nested lists are not empty"


def test_each_alias_of_an_edges_node_is_prefetched_and_completed_by_its_plan(
    plan_runs: list[tuple[str, bool, bool]],
) -> None:
    from devstack.bench_execution import MemoryServices, verified_context
    from gateway.clients import ServiceClients

    clients = ServiceClients(addresses={}, stubs=MemoryServices().stubs())
    query = PORTAL_QUERIES[6]  # `node { … clientSuccessManager }` and `a1: node { billing }`
    for _ in range(2):  # the second time, straight on the executor
        plan_runs.clear()
        result = asyncio.run(portal_schema.execute(query, context_value=verified_context(clients)))
        assert not result.errors and len(result.data["accounts"]["edges"]) == 5  # type: ignore[index]
    # the page's own plan, tried before its prefetch, stops at the first a1's billing; nothing else
    assert [run for run in plan_runs if not run[2]] == [
        ("Account", False, False),
        ("Edge", False, False),
        ("Connection", False, False),
    ]
    assert [run for run in plan_runs if run[0] == "Edge"][1:] == [("Edge", False, True)] * 5  # each edge, whole


@pytest.mark.parametrize(
    ("beneath", "reads"),
    [("name", 50), ("name admins { email }", 100)],  # each node's plan; and the read-ahead's, for the admins
)
def test_what_a_reference_loaded_is_read_ahead_only_when_its_selection_names_references(
    beneath: str, reads: int
) -> None:
    from devstack.bench_execution import MemoryServices, verified_context
    from gateway.clients import ServiceClients

    clients = ServiceClients(addresses={}, stubs=MemoryServices().stubs())
    query = "{ users(first: 50) { edges { node { id account { " + beneath + " } } } } }"
    for _ in range(2):  # the second time, straight on the executor
        context = verified_context(clients)
        read: list[str] = []  # each loaded message a reference gives (Reference._converted)

        def counted(convert: Any, message: Any, converted: Any = context.converted) -> Any:
            read.append(type(message).__name__)
            return converted(convert, message)

        context.converted = counted  # type: ignore[method-assign]
        result = asyncio.run(portal_schema.execute(query, context_value=context))
        assert not result.errors and len(result.data["users"]["edges"]) == 50  # type: ignore[index]
    assert read.count("Account") == reads


def test_a_failed_read_ahead_is_reported_by_each_item_as_graphql_core_reports_it() -> None:
    import grpc

    from devstack.bench_execution import MemoryServices, verified_context
    from gateway.clients import ServiceClients

    query = next(iter(READ_AHEAD))
    services = MemoryServices()
    clients = ServiceClients(addresses={}, stubs=services.stubs())

    async def unavailable(request: Any, **_: Any) -> Any:
        raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down")

    clients.stubs["identity"].BatchGetAccounts = unavailable  # the authors' accounts: the second level

    def answer(on: strawberry.Schema) -> tuple[str, list[tuple[str, tuple[Any, ...]]]]:
        result = asyncio.run(on.execute(query, context_value=verified_context(clients)))
        return json.dumps(result.data), sorted((e.message, tuple(e.path or ())) for e in result.errors or [])

    expected = answer(_plain_portal_schema())
    assert expected[1] and all(path[-1] == "account" for _, path in expected[1])
    for _ in range(2):
        assert answer(portal_schema) == expected


# the root fields the in-memory services answer (devstack.bench_execution.MemoryServices)
ANSWERED_ROOTS = ["me", "users", "cases", "accounts", "contacts"]


@st.composite
def _selection(draw: st.DrawFn, of: Any, depth: int) -> str:
    """A selection on object type `of`: some of its fields (each maybe twice, under an alias),
    objects and lists of objects with selections of their own down to `depth`, nested pages with a
    small `first`, `__typename` now and then. Fields with required arguments, interfaces and unions
    are left to hypothesis-graphql's documents."""
    from graphql import (
        GraphQLInterfaceType,
        GraphQLNonNull,
        GraphQLObjectType,
        GraphQLUnionType,
        Undefined,
        get_named_type,
    )

    usable = {}
    for name, graph_field in of.fields.items():
        target = get_named_type(graph_field.type)
        arguments = graph_field.args.values()
        if any(isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined for a in arguments):
            continue
        if isinstance(target, GraphQLInterfaceType | GraphQLUnionType):
            continue
        if isinstance(target, GraphQLObjectType) and depth == 0:
            continue
        usable[name] = (graph_field, target)
    chosen = draw(st.lists(st.sampled_from(sorted(usable)), min_size=1, max_size=6))
    parts = ["__typename"] if draw(st.booleans()) else []
    for n, name in enumerate(chosen):
        graph_field, target = usable[name]
        text = f"a{n}: {name}" if name in chosen[:n] else name
        if "first" in graph_field.args:
            text += f"(first: {draw(st.integers(min_value=0, max_value=3))})"
        if isinstance(target, GraphQLObjectType):
            text += " { " + draw(_selection(target, depth - 1)) + " }"
        parts.append(text)
    return " ".join(parts)


@st.composite
def _portal_document(draw: st.DrawFn) -> str:
    from graphql import get_named_type

    query_type = portal_schema._schema.query_type
    assert query_type is not None
    root = draw(st.sampled_from(ANSWERED_ROOTS))
    target = get_named_type(query_type.fields[root].type)
    arguments = "(first: 50)" if "first" in query_type.fields[root].args else ""
    return "{ " + root + arguments + " { " + draw(_selection(target, 3)) + " } }"


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(document=st.one_of(queries(PORTAL_SDL, fields=ANSWERED_ROOTS, custom_scalars=GRAPH_SCALARS), _portal_document()))
def test_for_any_query_of_the_portals_schema_the_executor_answers_what_graphql_core_answers(document: str) -> None:
    """Documents written from the schema: hypothesis-graphql's (any argument, fragment and alias,
    mostly shallow) and deep selections on full pages (edges, nodes, references, nested pages),
    on the roots the in-memory services answer. The data is the same, keys in the same order;
    where graphql-core errs, so does the executor (which sibling errors are still recorded once a
    null propagates depends on when each item completes, so only their presence is compared)."""
    from devstack.bench_execution import MemoryServices, verified_context
    from gateway.clients import ServiceClients

    clients = ServiceClients(addresses={}, stubs=MemoryServices().stubs())

    async def answer(on: strawberry.Schema) -> tuple[str, bool]:
        result = await on.execute(document, context_value=verified_context(clients))
        if result.errors:  # graphql-core settles an errored list's other items in the background
            await asyncio.sleep(0.01)
        # the portal's limits (depth, cost) refuse some documents before they run; the plain schema has none
        assume(not any(error.path is None for error in result.errors or []))
        return json.dumps(result.data, default=str), bool(result.errors)

    got = [asyncio.run(answer(portal_schema)) for _ in range(2)]  # the second time: straight on the executor
    assert got == [asyncio.run(answer(_plain_portal_schema()))] * 2, document

"""What every domain package of the graph shares: Node, PageInfo, Money, connections, enums built from
the protos, loaders capped at the services' batch size, the node registry's resolver type.

A domain package never imports another domain's `types` at import time: it names those types with
`Annotated[X, strawberry.lazy("gateway.schema.<domain>.types")]` (X imported under TYPE_CHECKING).
Each domain's `enums` module is a leaf, so other domains may import it directly.
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Protocol, Self, TypeAlias, TypeVar

import strawberry
from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.timestamp_pb2 import Timestamp
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from gateway.context import PortalContext
from gateway.errors import PortalError, bad_input
from portalkit.batch import MAX_BATCH
from portalkit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

Ctx: TypeAlias = Info[PortalContext, None]
NodeT = TypeVar("NodeT")
K = TypeVar("K")
V = TypeVar("V")
M = TypeVar("M", bound="HasId")
T = TypeVar("T")


@strawberry.interface
class Node:
    id: strawberry.ID


# `node(id)` dispatches on the id's prefix (`usr_`) to one of these; each domain package lists its own.
NodeResolver: TypeAlias = Callable[[Ctx, str], Awaitable[Node | None]]


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Money:
    amount: Decimal
    currency: str


# --- conversion on first read: a page pays only for the fields its selection names -------------------


class _OnRead:
    """The descriptor `on_read` makes. It has no __set__, so once its first read has stored the
    value in the instance, later reads find it there without calling it."""

    __slots__ = ("convert", "name")

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        self.convert = convert
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:  # on the class: what dataclasses take as the field's default
            return self
        value = instance.__dict__[self.name] = self.convert(instance.message)
        return value


def on_read(convert: Callable[[Any], Any]) -> Any:
    """A field of a graph type made from a service's message (kept as its `message` field),
    converted from it when first read rather than when the object is made: `{ id subject }` on a
    page of 50 cases does not convert the 250 timestamps and enums (about 0.5 to 1 µs each) nobody
    asked for. `created_at: datetime = on_read(lambda m: dt(m.created_at))`; the object is made
    with `made`. Typed Any so that the annotation stays the field's type."""
    return _OnRead(convert)


def made(cls: type[T], message: Any, **fields: Any) -> T:
    """An instance of a graph type with `on_read` fields: `fields` plus `message`, the rest read
    from the message when asked for. Strawberry's types are plain dataclasses whose __init__ only
    assigns its arguments; this assigns them without the call (tests/unit/test_gateway_types.py
    checks that every field of each such type reads, for any message)."""
    instance = object.__new__(cls)
    fields["message"] = message
    instance.__dict__ = fields
    return instance


# --- connections: `Connection[User]` is the graph's UserConnection, its edges UserEdge -------------


@strawberry.type
class Edge(Generic[NodeT]):
    node: NodeT
    cursor: str


class PageReply(Protocol):
    """A service's List…Response (or one page of a batch): the cursors are the service's own."""

    @property
    def cursors(self) -> Sequence[str]: ...

    @property
    def next_page_token(self) -> str: ...

    @property
    def total_count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PageItems:
    """What a Connection's edges and page info are made of when first read: the service's page,
    its items (messages) and their conversion to the graph's nodes."""

    page: PageReply
    items: Sequence[Any]
    convert: Callable[[Any], Any]

    def edges(self) -> list[Edge[Any]]:
        convert = self.convert
        return [Edge(node=convert(item), cursor=c) for item, c in zip(self.items, self.page.cursors, strict=True)]

    def page_info(self) -> PageInfo:
        cursors = self.page.cursors
        return PageInfo(has_next_page=bool(self.page.next_page_token), end_cursor=cursors[-1] if cursors else None)


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = on_read(PageItems.edges)
    page_info: PageInfo = on_read(PageItems.page_info)
    total_count: int
    message: strawberry.Private[PageItems]


def connection(page: PageReply, items: Sequence[Any], convert: Callable[[Any], NodeT]) -> Connection[NodeT]:
    """A page of `items` (the service's messages) as the graph's connection, each item converted by
    `convert` when the edges are first read: a count (`comments(first: 3) { totalCount }`) converts
    none. Cursors are opaque and made by the service that pages (one per item), so `after: cursor`
    is passed back to it unchanged as page_token."""
    return made(Connection, PageItems(page, items, convert), total_count=page.total_count)


def page_size(first: int | None) -> int:
    """`first` is capped at 100 (the contract's convention); negative is an error."""
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 0:
        raise bad_input("first must not be negative")
    return min(first, MAX_PAGE_SIZE)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31T23:59:59


def dt(stamp: Timestamp) -> datetime:
    """What `stamp.ToDatetime(tzinfo=UTC)` gives, in half its time (a page converts one or two per
    item); a stamp out of range takes protobuf's own path, which reports it."""
    seconds, nanos = stamp.seconds, stamp.nanos
    if not (0 <= nanos < 1_000_000_000 and _MIN_SECONDS <= seconds <= _MAX_SECONDS):
        return stamp.ToDatetime(tzinfo=UTC)
    return _EPOCH + timedelta(0, seconds, nanos // 1000)  # (days, seconds, microseconds): positional is faster


def optional_dt(message: object, field: str) -> datetime | None:
    return dt(getattr(message, field)) if message.HasField(field) else None  # type: ignore[attr-defined]


# --- enums: defined once, in the proto ---------------------------------------------------------------


class ProtoEnumType(Protocol):
    """A generated proto enum, e.g. `identity_pb2.Role`."""

    DESCRIPTOR: EnumDescriptor

    def Name(self, number: Any) -> str: ...

    def Value(self, name: str) -> Any: ...


class ProtoEnum(enum.Enum):
    """Base of the graph's enums: a member's value is the name of its proto value."""

    _value_: str
    _proto: ClassVar[ProtoEnumType]

    @classmethod
    def from_pb(cls, number: int) -> Self:
        member: Self | None = cls._by_number.get(number)  # type: ignore[attr-defined]
        return member if member is not None else cls(cls._proto.Name(number))

    def to_pb(self) -> Any:
        """The proto number (typed Any: each proto enum has its own ValueType)."""
        return self._proto.Value(self.value)


E = TypeVar("E", bound=ProtoEnum)


def proto_enum(proto: ProtoEnumType, *, description: str | None = None) -> Callable[[type[E]], type[E]]:
    """Class decorator filling an empty `ProtoEnum` subclass of the same name as the proto enum with its
    values, in proto order, without `*_UNSPECIFIED`. A value prefixed with the enum's own name
    (EXPORT_STATUS_PENDING, where package scope forces it) is PENDING in the graph. A class, not a
    call, so that mypy accepts it as a type."""

    def build(cls: type[E]) -> type[E]:
        if proto.DESCRIPTOR.name != cls.__name__:
            raise TypeError(f"{cls.__name__} must be named as its proto enum {proto.DESCRIPTOR.name}")
        prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).upper() + "_"
        members = [
            (value.name.removeprefix(prefix), value.name)
            for value in proto.DESCRIPTOR.values
            if not value.name.endswith("_UNSPECIFIED")
        ]
        functional_api: Any = cls  # Enum(name, members): typeshed does not have it for subclasses
        built: type[E] = functional_api(cls.__name__, members, module=cls.__module__, qualname=cls.__qualname__)
        built._proto = proto
        built._by_number = {proto.Value(member.value): member for member in built}  # type: ignore[attr-defined]
        return strawberry.enum(built, description=description)

    return build


def to_pb(member: ProtoEnum | None) -> Any:
    """The proto number of an optional argument; None is the `*_UNSPECIFIED` zero."""
    return member.to_pb() if member is not None else 0


# --- loaders: one batch call per list, never more ids than a service takes ---------------------------


class HasId(Protocol):
    @property
    def id(self) -> str: ...


LoaderFactory: TypeAlias = Callable[[PortalContext], DataLoader[K, V]]


def batch_loader(load: Callable[[list[K]], Awaitable[Sequence[V]]]) -> DataLoader[K, V]:
    return DataLoader(load_fn=load, max_batch_size=MAX_BATCH)


def read_by_id(
    loader: Callable[[PortalContext], DataLoader[str, Any]], convert: Callable[[Any], T]
) -> Callable[[Ctx, str], Awaitable[T | None]]:
    """`load_user(info, id)` and the like: one object by id through the request's loader (batched
    with the rest of the list), converted to its graph type; None when not found or not readable."""

    async def read(info: Ctx, key: str) -> T | None:
        found = await info.context.loader(loader).load(key)
        return convert(found) if found is not None else None

    return read


def pages_per_account(
    fetch: Callable[[list[str], tuple[Any, ...]], Awaitable[Iterable[Any]]],
) -> Callable[[], DataLoader[tuple[Any, ...], Any]]:
    """A loader of `(account id, *page arguments)` keys for a list field on Account in a list of
    accounts: one batch call per distinct set of page arguments, `fetch(account_ids, page_args)`
    answering pages that carry their `account_id`."""

    def make() -> DataLoader[tuple[Any, ...], Any]:
        async def load(keys: list[tuple[Any, ...]]) -> list[Any]:
            groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
            for account_id, *page in keys:
                groups[tuple(page)].append(account_id)
            pages: dict[tuple[Any, ...], Any] = {}
            for page_args, account_ids in groups.items():
                for page in await fetch(account_ids, page_args):
                    pages[(page.account_id, *page_args)] = page
            return [pages[key] for key in keys]

        return batch_loader(load)

    return make


def by_id(fetch: Callable[[PortalContext, list[str]], Awaitable[Iterable[M]]]) -> LoaderFactory[str, M | None]:
    """A loader over a BatchGet RPC (see portalkit.batch): ids the service leaves out load as None."""

    def factory(ctx: PortalContext) -> DataLoader[str, M | None]:
        async def load(ids: list[str]) -> list[M | None]:
            found = {m.id: m for m in await fetch(ctx, ids)}
            return [found.get(i) for i in ids]

        return batch_loader(load)

    return factory


async def none_if_not_found(awaitable: Awaitable[T]) -> T | None:
    """For nullable root fields: a NOT_FOUND from the service is a null, not an error."""
    try:
        return await awaitable
    except PortalError as error:
        if error.extensions and error.extensions.get("code") == "NOT_FOUND":
            return None
        raise


# --- references: a field naming one object by id, read through the request's DataLoader ---------


NOT_LOADED: Any = object()  # Reference.loaded: the read has not completed yet
NO_ARGUMENTS: Mapping[str, Any] = MappingProxyType({})  # a reference field's, when it takes none


@dataclass(frozen=True)
class Reference:
    """`User.account`, `Case.requester`, …: the id on the owner (`key`), the loader that reads the
    object (one batch call per list), and the conversion to its graph type. Each domain lists its
    references in REFERENCES (owner type → field → Reference); when a list of owners is completed,
    the executor prefetches the selected ones for the whole list at once
    (gateway/schema/execution.py), so each item's field then resolves at once instead of as a task
    of its own. Unprefetched (a single owner), it is an awaitable as any loader read.

    A field with arguments (`Case.comments(first: 3)`, `Account.users(role: ADMIN)`) names its
    `arguments`: a function of the field's arguments, as its resolver takes them, to the rest of
    the loader's key, which is then `(the owner's key, *arguments(...))`. Its resolver passes its
    arguments on (`resolve(info, self, first=first, after=after)`); the executor passes the same
    ones, from the selection, when it prefetches the list."""

    loader: Callable[[PortalContext], DataLoader[Any, Any]]
    key: str
    convert: Callable[[Any, PortalContext], Any]  # the service's message (and the request) → the graph type
    arguments: Callable[..., tuple[Any, ...]] | None = None

    def key_of(self, owner: Any, arguments: Mapping[str, Any] = NO_ARGUMENTS) -> Any:
        """The loader's key for `owner`, or None for no id (then there is nothing to read)."""
        key = getattr(owner, self.key)
        if not key or self.arguments is None:
            return key or None
        return (key, *self.arguments(**arguments))

    def prefetch(
        self, ctx: PortalContext, owners: Sequence[Any], arguments: Mapping[str, Any] = NO_ARGUMENTS
    ) -> list[Awaitable[Any]]:
        """The reads of the owners' objects, started together (one batch call): the loader's
        future for each distinct key. Every key is made before any read starts, so arguments that
        make no key start none."""
        keys = dict.fromkeys(key for owner in owners if (key := self.key_of(owner, arguments)) is not None)
        loader = ctx.loader(self.loader)
        return [loader.load(key) for key in keys]

    def resolve(self, info: Ctx, owner: Any, **arguments: Any) -> Any:
        """The object, or an awaitable of it when it is not loaded yet; None for no id."""
        ctx = info.context
        key = self.key_of(owner, arguments)
        if key is None:
            return None
        future = ctx.loader(self.loader).load(key)
        found = self._if_done(future, ctx)
        return self._later(future, ctx) if found is NOT_LOADED else found

    def loaded(self, owner: Any, ctx: PortalContext, arguments: Mapping[str, Any] = NO_ARGUMENTS) -> Any:
        """The object when its read has completed (a list's prefetch), None for no id or none
        found, else NOT_LOADED. It starts no read: one started here, by a plan trying an item
        before its list's prefetch, would go out in a batch of its own. What key_of does, inline:
        each item of a page reads each selected reference through here."""
        key = getattr(owner, self.key)
        if not key:
            return None
        if self.arguments is not None:
            key = (key, *self.arguments(**arguments))
        future = ctx.loader(self.loader).cache_map.get(key)
        return NOT_LOADED if future is None else self._if_done(future, ctx)

    def _if_done(self, future: Awaitable[Any], ctx: PortalContext) -> Any:
        if isinstance(future, asyncio.Future) and future.done() and not future.cancelled() and not future.exception():
            return self._converted(future.result(), ctx)
        return NOT_LOADED

    def resolve_field(self, owner: Any, info: Any) -> Any:
        """The field's resolver as graphql-core calls it, for a reference without arguments (see
        execution.resolve_references_directly)."""
        return self.resolve(info, owner)

    async def _later(self, found: Awaitable[Any], ctx: PortalContext) -> Any:
        return self._converted(await found, ctx)

    def _converted(self, found: Any, ctx: PortalContext) -> Any:
        return ctx.converted(self.convert, found) if found is not None else None


References: TypeAlias = dict[str, dict[str, Reference]]

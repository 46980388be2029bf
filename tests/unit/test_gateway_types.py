"""The graph types whose fields are converted on first read (`on_read` in gateway/schema/common.py)
give, for any message of their service, what the message's field of the same name means: protobuf's
own timestamp conversion, the enum member named as the proto value, the text or None, and so on.
Every field reads, whatever the order, and a second read is the same object."""

from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from strawberry.types.base import StrawberryList, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition

from gateway.schema.billing.types import Invoice, Payment, Usage
from gateway.schema.cases.types import Case, CaseComment, attachments_of
from gateway.schema.common import Connection, Money, _OnRead
from gateway.schema.contacts.types import Contact
from gateway.schema.identity.types import User
from gateway.schema.root import schema

# each type, and what its from_pb takes after the message (a case, a comment: the request's URL, for attachments)
CONVERTED_ON_READ: dict[type, tuple[Any, ...]] = {
    User: (),
    Case: ("https://portal.example/",),
    CaseComment: ("https://portal.example/",),
    Contact: (),
    Invoice: (),
    Payment: (),
    Usage: (),
}
DAY_TEXT = {"issue_date", "due_date", "date"}  # billing's calendar days travel as ISO text
DECIMAL_TEXT = {"amount", "quantity"}


def test_the_types_with_fields_converted_on_read_are_the_ones_tested_here() -> None:
    classes = [getattr(t.definition, "origin", None) for t in schema.schema_converter.type_map.values()]
    found = {
        cls
        for cls in classes
        if isinstance(cls, type) and any(isinstance(v, _OnRead) for c in cls.__mro__ for v in vars(c).values())
    }
    # a connection's edges and page info are made from its page (tests/unit/test_gateway_kit.py)
    assert {cls for cls in found if not issubclass(cls, Connection)} == set(CONVERTED_ON_READ)


def _graph_fields(cls: type) -> dict[str, Any]:
    """Field name → Strawberry's type, for the fields a value is kept in (no resolver)."""
    return {f.python_name: f.type for f in cls.__strawberry_definition__.fields if f.base_resolver is None}  # type: ignore[attr-defined]


def _optional(graph_type: Any) -> tuple[Any, bool]:
    if isinstance(graph_type, StrawberryOptional):
        return graph_type.of_type, True
    return graph_type, False


def _timestamps() -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=st.just(UTC)
    )


@st.composite
def _message(draw: st.DrawFn, descriptor: Descriptor, graph: type | None, depth: int = 0) -> Message:
    """A message of `descriptor`'s type: what its service may send, as the graph type reads it (a
    field the graph has as non-null is set)."""
    message = message_factory.GetMessageClass(descriptor)()
    fields = _graph_fields(graph) if graph is not None else {}
    for field in descriptor.fields:
        graph_type, optional = _optional(fields.get(field.name))
        if field.message_type is not None and field.message_type.full_name == "google.protobuf.Timestamp":
            if not optional or draw(st.booleans()):
                getattr(message, field.name).FromDatetime(draw(_timestamps()))
            continue
        if field.message_type is not None:
            if depth > 1:
                continue
            inner = graph_type.of_type if isinstance(graph_type, StrawberryList) else graph_type
            inner_graph = inner if dataclasses.is_dataclass(inner) else None
            parts = _message(field.message_type, inner_graph, depth + 1)  # type: ignore[arg-type]
            if field.is_repeated:
                getattr(message, field.name).extend(draw(st.lists(parts, max_size=3)))
            elif draw(st.booleans()) or not optional:
                getattr(message, field.name).CopyFrom(draw(parts))
            continue
        value = draw(_scalar(field, optional))
        if field.is_repeated:
            getattr(message, field.name).extend(draw(st.lists(_scalar(field, False), max_size=3)))
        else:
            setattr(message, field.name, value)
    return message


def _scalar(field: FieldDescriptor, optional: bool) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        return st.sampled_from([v.number for v in field.enum_type.values if v.number or optional])
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64):
        return st.integers(min_value=0, max_value=2**31 - 1)
    if field.name in DAY_TEXT:
        return st.dates().map(date.isoformat)
    if field.name in DECIMAL_TEXT:
        return st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9).map(
            str
        )
    return st.text(max_size=8) if optional else st.text(min_size=1, max_size=8)


def _meant(graph_type: Any, message: Message, name: str) -> Any:
    """What the graph's field `name` means for the message's field of that name."""
    graph_type, optional = _optional(graph_type)
    if optional and message.DESCRIPTOR.fields_by_name[name].has_presence and not message.HasField(name):
        return None
    value, field = getattr(message, name), message.DESCRIPTOR.fields_by_name[name]
    if isinstance(graph_type, StrawberryList):
        return [_meant_item(graph_type.of_type, item, field) for item in value]
    return _meant_item(graph_type, value, field, optional)


def _meant_item(graph_type: Any, value: Any, field: Any, optional: bool = False) -> Any:
    if isinstance(value, Message) and value.DESCRIPTOR.full_name == "google.protobuf.Timestamp":
        return value.ToDatetime(tzinfo=UTC)  # type: ignore[attr-defined]
    if isinstance(graph_type, StrawberryEnumDefinition):
        if optional and value == 0:
            return None
        assert field.enum_type is not None
        return field.enum_type.values_by_number[value].name  # a graph enum's value is its proto value's name
    if graph_type is date:
        return date.fromisoformat(value)
    if graph_type is Decimal:
        return Decimal(value)
    if graph_type is Money:
        return {"amount": Decimal(value.amount or "0"), "currency": value.currency}
    if isinstance(value, Message):
        fields = _graph_fields(graph_type)
        return {n: _meant(t, value, n) for n, t in fields.items() if n in value.DESCRIPTOR.fields_by_name}
    if optional and value == "":
        return None
    return value


def _plain(value: Any, like: Any) -> Any:
    """A graph value spelled as `like`, a value of _meant: objects as the fields it names, enum
    members as their values."""
    if isinstance(like, dict):
        return {name: _plain(getattr(value, name), part) for name, part in like.items()}
    if isinstance(like, list) and isinstance(value, list) and len(value) == len(like):
        return [_plain(v, part) for v, part in zip(value, like, strict=True)]
    return getattr(value, "value", value) if hasattr(type(value), "_proto") else value


def _made(cls: type, message: Message) -> Any:
    return cls.from_pb(message, *CONVERTED_ON_READ[cls])  # type: ignore[attr-defined]


def _cases() -> st.SearchStrategy[tuple[type, Message, list[str]]]:
    def of(cls: type) -> st.SearchStrategy[tuple[type, Message, list[str]]]:
        proto = _proto_of(cls)
        names = list(_graph_fields(cls))
        return st.tuples(st.just(cls), _message(proto.DESCRIPTOR, cls), st.permutations(names))

    return st.one_of([of(cls) for cls in CONVERTED_ON_READ])


def _proto_of(cls: type) -> Any:
    """The message class a graph type keeps (its `message: Private[pb.X]`)."""
    return typing.get_args(typing.get_type_hints(cls, include_extras=True)["message"])[0]


@settings(max_examples=300, deadline=None)
@given(_cases())
def test_each_field_means_its_message_field_whatever_the_order_it_is_read_in(
    case: tuple[type, Message, list[str]],
) -> None:
    cls, message, order = case
    made = _made(cls, message)
    read = {name: getattr(made, name) for name in order}  # every field reads, in this order
    assert all(getattr(made, name) is read[name] for name in order)  # converted once, then kept
    fields = _graph_fields(cls)
    for name, graph_type in fields.items():
        if name in message.DESCRIPTOR.fields_by_name:
            meant = _meant(graph_type, message, name)
            assert _plain(read[name], meant) == meant, name
    assert made.message is message
    assert isinstance(made.id, str) and made.id == message.id  # type: ignore[attr-defined]
    assert cls(**read) == made  # the dataclass's own equality holds between the two ways of making it
    if cls in (Case, CaseComment):  # their attachments are a resolver's (their links need the request's URL)
        attachments = attachments_of(made)
        assert [(a.id, a.filename, a.size) for a in attachments] == [
            (a.id, a.filename, a.size)
            for a in message.attachments  # type: ignore[attr-defined]
        ]
        assert all(a.url.startswith("https://portal.example/attachments/") for a in attachments)


def test_an_unselected_field_costs_no_conversion() -> None:
    user = User.from_pb(_proto_of(User)(id="usr_1", email="a@example.com", role=1, status=1))
    assert "created_at" not in vars(user) and "role" not in vars(user)
    assert user.role.value == "USER" and "role" in vars(user)
    assert "created_at" not in vars(user)

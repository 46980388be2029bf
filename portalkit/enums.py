"""Enums are defined once, in the service's proto; Python code reads their names from there."""

from __future__ import annotations

from typing import Any


def enum_names(proto_enum: Any) -> tuple[str, ...]:
    """The value names of a generated proto enum, in declaration order, without `*_UNSPECIFIED`."""
    return tuple(v.name for v in proto_enum.DESCRIPTOR.values if not v.name.endswith("_UNSPECIFIED"))


def enum_name(proto_enum: Any, number: int) -> str:
    """Proto enum number -> its name; '' for the UNSPECIFIED zero value."""
    return "" if number == 0 else str(proto_enum.Name(number))

"""Comparing a GraphQL schema with the contract (contract/schema.graphql), item by item.

The same comparison as the shared `tools/contract_check.py`, kept here so the project checks itself
without the shared folder; tests/test_schema_sdl.py checks that both agree when that tool is there.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
)


def items(schema: GraphQLSchema) -> Iterator[tuple[str, str]]:
    """(key, description) for everything a client can rely on."""
    for name, t in schema.type_map.items():
        if name.startswith("__"):
            continue
        yield f"type {name}", type(t).__name__
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType):
            for iface in t.interfaces:
                yield f"{name} implements {iface.name}", ""
            for fname, f in t.fields.items():
                yield f"{name}.{fname}", str(f.type)
                for aname, a in f.args.items():
                    yield f"{name}.{fname}({aname})", str(a.type)
        elif isinstance(t, GraphQLInputObjectType):
            for fname, field in t.fields.items():
                yield f"{name}.{fname}", str(field.type)
        elif isinstance(t, GraphQLEnumType):
            for v in t.values:
                yield f"{name}.{v}", "enum value"
        elif isinstance(t, GraphQLUnionType):
            for m in t.types:
                yield f"{name} | {m.name}", ""


def compare(schema_sdl: str, contract_sdl: str) -> list[str]:
    """One line per contract item the schema lacks (`missing  …`) or types otherwise (`differs  …`)."""
    have = dict(items(build_schema(schema_sdl)))
    want = dict(items(build_schema(contract_sdl)))
    lines = []
    for key, kind in want.items():
        if key not in have:
            lines.append(f"missing  {key}: {kind}")
        elif have[key] != kind:
            lines.append(f"differs  {key}: contract {kind}, schema {have[key]}")
    return lines

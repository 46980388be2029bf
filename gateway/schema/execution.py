"""The executor: graphql-core's, as Strawberry configures it, plus one step before a list of objects
is completed: the references its items' selections name (User.account, Case.requester, …; see
`Reference` in common.py) are loaded for the whole list at once. Each item's field then resolves
synchronously: a page of 50 users with their account is one batch call and no task per user
(graphql-core runs every awaitable list item as a task of its own).

And one shortcut: a plain attribute of scalar or enum type (no resolver, no arguments, no field
extension: Strawberry's "basic" field) that holds a value is read and coerced directly, without
the resolve info, resolver chain and completion steps graphql-core spends on every field (most of
a page's fields are such). Anything else — a null, an error, a value that does not coerce, any
resolver middleware (tracing) — takes graphql-core's own path, so results and errors stay as
graphql-core makes them."""

from __future__ import annotations

import asyncio
import functools
import operator
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    get_nullable_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from gateway.schema.common import Reference


class PrefetchingExecutor(StrawberryGraphQLCoreExecutionContext):
    # owner type name → GraphQL field name → Reference; set once from the domains (root.py)
    references: ClassVar[Mapping[str, Mapping[str, Reference]]] = {}
    # (type, field) → (read the attribute, coerce it) for plain leaf attributes, else None; per schema
    _plain_leaves: ClassVar[dict[tuple[str, str], tuple[Callable[[Any], Any], Callable[[Any], Any]] | None]] = {}
    _round: asyncio.Future[None] | None = None
    _round_loads: list[Awaitable[Any]]

    def execute_field(
        self, parent_type: GraphQLObjectType, source: Any, field_details_list: Any, path: Any, position_context: Any
    ) -> Any:
        node = field_details_list[0].node
        key = (parent_type.name, node.name.value)
        try:
            plain = self._plain_leaves[key]
        except KeyError:
            plain = self._plain_leaves[key] = _plain_leaf(parent_type.fields.get(node.name.value))
        if (
            plain is not None
            and not node.arguments
            and not (self.middleware_manager and self.middleware_manager.middlewares)
        ):
            read, coerce = plain
            try:
                value = read(source)
                if value is not None and not isinstance(value, Exception):
                    coerced = coerce(value)
                    if coerced is not None and coerced is not Undefined:
                        return coerced
            except Exception:  # noqa: S110 - graphql-core's path below reports it, located
                pass
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def complete_list_value(
        self,
        return_type: Any,
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        complete = super().complete_list_value
        loads = self._prefetches(return_type, field_details_list, result)
        if loads is None:
            return complete(return_type, field_details_list, info, path, result, position_context)
        ready = self._join_round(loads)

        async def complete_after_prefetch() -> Any:
            await ready
            completed = complete(return_type, field_details_list, info, path, result, position_context)
            return await completed if self.is_awaitable(completed) else completed

        return complete_after_prefetch()

    def _join_round(self, loads: list[Awaitable[Any]]) -> asyncio.Future[None]:
        """Lists reached in the same turn of the loop (siblings: each account's contacts) wait for
        one round of prefetches and go on together, so the other reads their items start are
        batched together too, as they would be without prefetching (one call per list level)."""
        if self._round is None:
            loop = asyncio.get_running_loop()
            self._round, self._round_loads = loop.create_future(), []
            loop.call_soon(self._close_round)  # after this turn's lists, as DataLoader dispatches
        self._round_loads.extend(loads)
        return self._round

    def _close_round(self) -> None:
        ready, loads = self._round, self._round_loads
        self._round, self._round_loads = None, []
        assert ready is not None
        # a failed read stays in its loader's cache: each item's field reports it as before
        gathered = asyncio.gather(*loads, return_exceptions=True)

        def release(_: object) -> None:
            if not ready.done():
                ready.set_result(None)

        gathered.add_done_callback(release)

    def _prefetches(self, return_type: Any, field_details_list: Any, items: Any) -> list[Awaitable[Any]] | None:
        """The reads of the references selected on the list's items (or its edges' nodes); None when
        the items' type has none selected (the list completes as graphql-core does it)."""
        item_type = get_nullable_type(return_type.of_type)
        if not isinstance(items, list) or not items or not isinstance(item_type, GraphQLObjectType):
            return None
        owner_type, owners = item_type, items
        fields = self.collect_subfields(item_type, field_details_list).grouped_field_set
        if item_type.name.endswith("Edge") and "node" in item_type.fields:  # a connection's edges
            node_type = get_nullable_type(item_type.fields["node"].type)
            node_fields = [f for f in fields.values() if f[0].node.name.value == "node"]
            if not node_fields or not isinstance(node_type, GraphQLObjectType):
                return None
            owner_type, owners = node_type, [edge.node for edge in items]
            fields = self.collect_subfields(node_type, node_fields[0]).grouped_field_set
        references = self.references.get(owner_type.name)
        if not references:
            return []
        selected = {details[0].node.name.value for details in fields.values()}
        return [
            reference.prefetch(self.context_value, owners) for name, reference in references.items() if name in selected
        ]


def _plain_leaf(field: GraphQLField | None) -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    """How a basic field reads its value from the source (Strawberry's default resolver) and the
    leaf type's output coercion, when `field` is a plain attribute of scalar or enum type without
    arguments."""
    if field is None or field.args or field.resolve is None:
        return None
    leaf = get_nullable_type(field.type)
    if not isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
        return None
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or not definition.is_basic_field:  # a resolver, permissions or extensions run
        return None
    if definition.default_resolver is getattr:  # what a basic field's resolver does, minus two calls
        return operator.attrgetter(definition.python_name), leaf.coerce_output_value
    return functools.partial(field.resolve, info=None), leaf.coerce_output_value


def resolve_references_directly(schema: GraphQLSchema, references: Mapping[str, Mapping[str, Reference]]) -> None:
    """Each reference field (User.account, …) resolves through its Reference itself rather than
    Strawberry's resolver chain (argument parsing, an Info object, field extensions — a reference
    takes no argument and reads only the request's context): the same result as the field's
    Strawberry resolver, which calls the same Reference, at a third of the cost per item.
    Resolver middleware (GraphQL tracing) still wraps it: graphql-core applies that to any resolver."""
    for owner, fields in references.items():
        owner_type = schema.type_map[owner]
        assert isinstance(owner_type, GraphQLObjectType), owner
        for name, reference in fields.items():
            field = owner_type.fields[name]
            definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if field.args or getattr(definition, "extensions", None) or getattr(definition, "permission_classes", None):
                raise TypeError(f"{owner}.{name} takes arguments or has field extensions: not a plain reference")
            field.resolve = reference.resolve_field


def references_of(domains: Sequence[Any]) -> dict[str, dict[str, Reference]]:
    """The domains' REFERENCES merged (a field belongs to one domain)."""
    merged: dict[str, dict[str, Reference]] = {}
    for domain in domains:
        for owner, fields in domain.REFERENCES.items():
            merged.setdefault(owner, {}).update(fields)
    return merged

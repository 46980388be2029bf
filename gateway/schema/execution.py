"""The executor: graphql-core's, as Strawberry configures it, plus one step before a list of objects
is completed: the references its items' selections name (User.account, Case.requester, …; see
`Reference` in common.py) are loaded for the whole list at once. Each item's field then resolves
synchronously: a page of 50 users with their account is one batch call and no task per user
(graphql-core runs every awaitable list item as a task of its own).

And shortcuts for the fields most of a page is made of, without the resolve info, resolver chain
and completion steps graphql-core spends on every field: a plain attribute (no resolver, no
arguments, no field extension: Strawberry's "basic" field) of scalar or enum type that holds a
value is read and coerced directly; a plain attribute of object type (Edge.node) and a reference
already loaded (User.account after the prefetch) whose value is an instance of the type's own
class go straight to its sub-selection. Anything else — a null where one is not allowed, an error,
a value that does not coerce or is of another class, a reference not loaded yet, any resolver
middleware (tracing) — takes graphql-core's own path, so results and errors stay as graphql-core
makes them (tests/unit/test_gateway_execution.py compares the two).

And one step further for an object whose whole selection is such fields (a page's edge, its
node, the node's loaded reference, each with only plain fields beneath): a `Plan`, made once per
selection and request, completes it in one loop, without a Path, an execute_field call or an
awaitable check per field. An item where any step would not give its value as is (a null where
one is not allowed, a value that does not coerce, another class, a reference not loaded) is
completed again on graphql-core's path, from the start: the plan's reads are attribute reads and
loaded references, which read the same twice. A selection with other fields too (a resolver, a
list of objects, a child whose own selection has such fields) has a plan for the rest of it: its
steps' values, then graphql-core's execute_fields for the fields it leaves, in their places.

A reference whose field takes arguments (Case.comments(first: 3): a nested page) is prefetched for
the list with the selection's arguments, converted as its Strawberry resolver receives them, and a
plan reads it as loaded with the same arguments.

And before the list's items are completed, what its prefetch loaded is read ahead (`_deeper`),
where its selection names references beneath (`_reads_ahead`): the loaded objects' own references
and the items of the lists inside them (each case's comment authors), for the whole list, one
batch call per level. Plans take such lists of objects (`Items`), so a page of cases with their
latest comments and authors is completed by its plans alone."""

from __future__ import annotations

import asyncio
import contextlib
import operator
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    get_nullable_type,
)
from graphql.execution.values import get_argument_values
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments
from strawberry.types.cast import get_strawberry_type_cast

from gateway.schema.common import NO_ARGUMENTS, NOT_LOADED, Reference

T = TypeVar("T")


class PrefetchingExecutor(StrawberryGraphQLCoreExecutionContext):
    # owner type name → GraphQL field name → Reference; set once from the domains (root.py)
    references: ClassVar[Mapping[str, Mapping[str, Reference]]] = {}
    # (parent type, field name) → how the field is taken without a resolver, or None (see _shortcut)
    _shortcuts: ClassVar[dict[tuple[GraphQLObjectType, str], Leaf | Child | Items | None]] = {}
    # a list's item type → (its object type, the classes it takes without is_type_of), or None
    _item_objects: ClassVar[dict[GraphQLOutputType, tuple[GraphQLObjectType, frozenset[type]] | None]] = {}
    _round: asyncio.Future[None] | None = None
    _round_loads: list[Awaitable[Any]]
    _memo: dict[tuple[Callable[..., Any], Any, int], tuple[Any, Any]]  # see _per_selection

    def execute_field(
        self, parent_type: GraphQLObjectType, source: Any, field_details_list: Any, path: Any, position_context: Any
    ) -> Any:
        node = field_details_list[0].node
        shortcut = self._shortcut_of(parent_type, node.name.value)
        if shortcut is None or node.arguments or (self.middleware_manager and self.middleware_manager.middlewares):
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        try:
            value = shortcut.read(source, self.context_value)
        except Exception:  # graphql-core's path below reports it, located
            value = NOT_LOADED
        if type(shortcut) is Leaf:
            if value is not None and value is not NOT_LOADED and not isinstance(value, Exception):
                try:
                    coerced = shortcut.coerce(value)
                except Exception:  # as above
                    coerced = None
                if coerced is not None and coerced is not Undefined:
                    return coerced
        elif type(shortcut) is Child:
            if value is None and shortcut.nullable:
                return None
            if type(value) in shortcut.classes and get_strawberry_type_cast(value) is None:
                return self._complete_child(shortcut, field_details_list, path, value, position_context)
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def _shortcut_of(self, parent_type: GraphQLObjectType, name: str) -> Leaf | Child | Items | None:
        key = (parent_type, name)
        try:
            return self._shortcuts[key]
        except KeyError:
            shortcut = self._shortcuts[key] = self._shortcut(parent_type, name)
            return shortcut

    def collect_and_execute_subfields(
        self, return_type: GraphQLObjectType, field_details_list: Any, path: Any, result: Any, position_context: Any
    ) -> Any:
        """graphql-core's, or the selection's Plan when it has one and it gives this object's value:
        its steps' values, and graphql-core's for the fields it leaves (`Plan.rest`)."""
        if position_context is None:
            plan = self._plan(return_type, field_details_list)
            if plan is not None:
                completed = plan.run(result, self.context_value)
                if completed is not None:
                    return (
                        completed if plan.rest is None else self._with_rest(plan, return_type, result, path, completed)
                    )
        return super().collect_and_execute_subfields(return_type, field_details_list, path, result, position_context)

    def _with_rest(
        self, plan: Plan, object_type: GraphQLObjectType, source: Any, path: Any, completed: dict[str, Any]
    ) -> Any:
        """`completed` (the plan's values, in selection order with the rest's places held) with the
        fields the plan leaves, executed by graphql-core's execute_fields: their errors, awaitables
        and null propagation are its own."""
        assert plan.rest is not None
        asked = plan.rest
        rest = self.execute_fields(object_type, source, path, asked, None)
        if not self.is_awaitable(rest):
            return _merged(completed, cast("dict[str, Any]", rest), asked)

        async def merged_later(pending: Awaitable[dict[str, Any]]) -> dict[str, Any]:
            return _merged(completed, await pending, asked)

        return merged_later(cast("Awaitable[dict[str, Any]]", rest))

    def _plan(self, object_type: GraphQLObjectType, field_details_list: Any) -> Plan | None:
        """The Plan of this selection on `object_type`, made once per request."""
        return self._per_selection(PrefetchingExecutor._make_plan, object_type, field_details_list)

    def _per_selection(self, make: Callable[[Any, Any, Any], T], on: Any, field_details_list: Any) -> T:
        """`make(self, on, field_details_list)`, once per selection and request: memoized on the
        selection's identity as graphql-core's collect_subfields is, keeping it alive with it."""
        try:
            memo = self._memo
        except AttributeError:
            memo = self._memo = {}
        key = (make, on, id(field_details_list))
        found = memo.get(key)
        if found is None:
            found = memo[key] = (field_details_list, make(self, on, field_details_list))
        return found[1]  # type: ignore[no-any-return]

    def _make_plan(self, object_type: GraphQLObjectType, field_details_list: Any) -> Plan | None:
        """The selection's steps: each field that is a Leaf, or a Child whose own selection has a
        plan that leaves nothing; the other fields are the plan's `rest`. None when no field is a
        step, or with a deferred fragment or resolver middleware."""
        if self.middleware_manager and self.middleware_manager.middlewares:
            return None
        grouped, defers, forbidden = self.collect_subfields(object_type, field_details_list)
        if defers or forbidden:
            return None
        steps: list[tuple[str, Leaf | Child | Items, Plan | None]] = []
        rest: dict[str, Any] = {}
        for response_name, details in grouped.items():
            node = details[0].node
            if node.name.value == "__typename":  # what Apollo Client adds to every selection
                steps.append((response_name, _type_name(object_type.name), None))
                continue
            shortcut = None if node.arguments else self._shortcut_of(object_type, node.name.value)
            if shortcut is None:
                shortcut = self._reference_with_arguments(object_type, details)
            sub = None
            if type(shortcut) is Child or type(shortcut) is Items:
                sub = self._plan(shortcut.object_type, details)
                if sub is None or sub.rest is not None:
                    shortcut = None  # its own plan, if any, runs when graphql-core completes it
            if shortcut is None:
                rest[response_name] = details
                continue
            steps.append((response_name, shortcut, sub))
        if not steps or (rest and len(steps) < 2):  # nothing to gain over graphql-core's own loop
            return None
        return Plan(tuple(steps), rest or None, dict.fromkeys(grouped) if rest else None)

    def _reference_with_arguments(
        self, object_type: GraphQLObjectType, field_details_list: Any
    ) -> Child | Items | None:
        """A plan's step for a reference whose field takes arguments (Case.comments(first: 3)): the
        page as loaded for the list, with this selection's arguments (converted once per plan), as
        the field's resolver would read it. None for any other field, or arguments that do not convert."""
        name = field_details_list[0].node.name.value
        reference = self.references.get(object_type.name, {}).get(name)
        if reference is None or reference.arguments is None:
            return None
        try:
            arguments = self._arguments_of(object_type, field_details_list)
        except Exception:  # the field's resolver reports them, on graphql-core's path
            return None
        loaded = reference.loaded
        return _object_step(object_type.fields[name], lambda source, context: loaded(source, context, arguments))

    def _complete_child(self, child: Child, field_details_list: Any, path: Any, value: Any, position: Any) -> Any:
        """graphql-core's completion of an object value (complete_value → complete_object_value),
        minus the resolve info and the type check `value`'s exact class has already passed."""
        try:
            completed = self.collect_and_execute_subfields(child.object_type, field_details_list, path, value, position)
        except Exception as raw_error:
            self.handle_field_error(raw_error, child.return_type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._completed_later(child.return_type, field_details_list, path, completed)
        return completed

    def complete_list_item_value(
        self,
        item: Any,
        complete_results: list[Any],
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: Any,
        item_path: Any,
        position_context: Any,
    ) -> bool:
        """graphql-core's, minus complete_value's dispatch and is_type_of for an item that is an
        instance of its object type's own class (a connection's edges, a list of users)."""
        try:
            target = self._item_objects[item_type]
        except KeyError:
            target = self._item_objects[item_type] = _item_object(item_type)
        if target is None or type(item) not in target[1] or get_strawberry_type_cast(item) is not None:
            args = (item, complete_results, item_type, field_details_list, info, item_path, position_context)
            return super().complete_list_item_value(*args)
        try:
            completed = self.collect_and_execute_subfields(
                target[0], field_details_list, item_path, item, position_context
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, item_type, field_details_list, item_path)
            complete_results.append(None)
            return False
        if self.is_awaitable(completed):
            complete_results.append(self._completed_later(item_type, field_details_list, item_path, completed))
            return True
        complete_results.append(completed)
        return False

    async def _completed_later(
        self, return_type: GraphQLOutputType, field_details_list: Any, path: Any, completed: Awaitable[Any]
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None

    def _shortcut(self, parent_type: GraphQLObjectType, name: str) -> Leaf | Child | Items | None:
        field = parent_type.fields.get(name)
        reference = self.references.get(parent_type.name, {}).get(name)
        if field is None or field.args:
            return None
        if reference is not None and field.resolve == reference.resolve_field:
            return _object_step(field, reference.loaded)
        definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if field.resolve is None or definition is None or not definition.is_basic_field:
            return None  # a resolver, permissions or extensions run
        if definition.default_resolver is getattr:  # what a basic field's resolver does, minus two calls
            attribute = operator.attrgetter(definition.python_name)
            read: Callable[[Any, Any], Any] = lambda source, _: attribute(source)  # noqa: E731
        else:
            resolve = field.resolve
            read = lambda source, _: resolve(source, None)  # noqa: E731
        leaf = get_nullable_type(field.type)
        nullable = not isinstance(field.type, GraphQLNonNull)
        if isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
            return Leaf(read, leaf.coerce_output_value, nullable)
        if isinstance(leaf, GraphQLList) and isinstance(
            item := get_nullable_type(leaf.of_type), GraphQLScalarType | GraphQLEnumType
        ):
            return Leaf(
                read, _list_coercion(item.coerce_output_value, isinstance(leaf.of_type, GraphQLNonNull)), nullable
            )
        return _object_step(field, read)

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
        level = self._prefetch_level(return_type, field_details_list, result)
        if level is None:
            return complete(return_type, field_details_list, info, path, result, position_context)
        ready = self._join_round(level.loads)

        async def complete_after_prefetch() -> Any:
            await ready
            levels = self._deeper([level])
            for _ in range(MAX_PREFETCH_DEPTH):
                if not levels:
                    break
                await self._join_round([load for deeper in levels for load in deeper.loads])
                levels = self._deeper(levels)
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

        def release(_: object) -> None:
            if not ready.done():
                ready.set_result(None)

        asyncio.ensure_future(_settled(loads)).add_done_callback(release)

    def _prefetch_level(self, return_type: Any, field_details_list: Any, items: Any) -> PrefetchLevel | None:
        """The references selected on the list's items (or its edges' nodes) and their reads for
        the whole list; None when the items are not objects (the list completes as graphql-core
        does it). A reference whose arguments do not convert or make no key is not read here:
        each item's resolver then reports that, located."""
        if not isinstance(items, list) or not items:
            return None
        selection = self._list_selection(return_type, field_details_list)
        if selection is None:
            return None
        owner_type, selections, of_nodes = selection
        return self._level(owner_type, [edge.node for edge in items] if of_nodes else items, selections)

    def _list_selection(
        self, list_type: Any, field_details_list: Any
    ) -> tuple[GraphQLObjectType, list[Any], bool] | None:
        """Whose references a list's selection names: (the items' type, their selection grouped,
        False), or for a connection's edges (the nodes' type, the selection of each alias of
        `node`, True); None when the items are not objects or the edges' nodes are not selected."""
        item_type = get_nullable_type(list_type.of_type)
        if not isinstance(item_type, GraphQLObjectType):
            return None
        fields = self.collect_subfields(item_type, field_details_list).grouped_field_set
        if not (item_type.name.endswith("Edge") and "node" in item_type.fields):
            return item_type, [fields], False
        node_type = get_nullable_type(item_type.fields["node"].type)
        node_fields = [f for f in fields.values() if f[0].node.name.value == "node"]
        if not node_fields or not isinstance(node_type, GraphQLObjectType):
            return None
        return node_type, [self.collect_subfields(node_type, f).grouped_field_set for f in node_fields], True

    def _level(self, owner_type: GraphQLObjectType, owners: list[Any], selections: list[Any]) -> PrefetchLevel:
        """The reads of the references `selections` (each grouped, as collect_subfields groups
        them) name on `owners`."""
        level = PrefetchLevel(owner_type, owners, [], [])
        references = self.references.get(owner_type.name)
        if not references:
            return level
        for details in (details for fields in selections for details in fields.values()):
            reference = references.get(details[0].node.name.value)
            if reference is None:
                continue
            read = self._prefetch(reference, owner_type, details, owners)
            if read is not None:
                arguments, loads = read
                level.selected.append((reference, details, arguments))
                level.loads.extend(loads)
        return level

    def _prefetch(
        self, reference: Reference, owner_type: GraphQLObjectType, field_details_list: Any, owners: list[Any]
    ) -> tuple[Mapping[str, Any], list[Awaitable[Any]]] | None:
        """The arguments and the reads of one selected reference for the whole list; None when its
        arguments do not convert or make no key."""
        try:
            arguments = (
                NO_ARGUMENTS if reference.arguments is None else self._arguments_of(owner_type, field_details_list)
            )
            return arguments, reference.prefetch(self.context_value, owners, arguments)
        except Exception:  # each item's resolver reports it, located
            return None

    def _deeper(self, levels: list[PrefetchLevel]) -> list[PrefetchLevel]:
        """After a level's reads: what they loaded that selects references of its own, as one level
        per field across every owner: a loaded object's references (a requester's `account`), and
        the items of the lists inside it (each case's `comments(first: 3) { edges { node { author } } }`,
        an account's `admins { account }`). So the whole page's comment authors are one read, made
        before any item is completed, and each item's plan finds them loaded."""
        deeper = []
        context = self.context_value
        for level in levels:
            for reference, details, arguments in level.selected:
                field = level.owner_type.fields[details[0].node.name.value]
                target = get_nullable_type(field.type)
                if not self._reads_ahead(target, details):  # a user's `account { name }`: nothing beneath
                    continue
                distinct: dict[int, Any] = {}  # a message is one object per request: 50 cases, 10 requesters
                for owner in level.owners:
                    value = reference.loaded(owner, context, arguments)
                    if value is not None and value is not NOT_LOADED:
                        distinct.setdefault(id(value), value)
                values = list(distinct.values())
                if not values:
                    continue
                lists: list[tuple[Any, Any, list[Any]]] = []  # (list type, field details, every item)
                if isinstance(target, GraphQLList):  # a reference to a list (admins)
                    lists.append((target, details, [item for value in values if type(value) is list for item in value]))
                elif isinstance(target, GraphQLObjectType):  # an object (requester) or a page (comments)
                    fields = self.collect_subfields(target, details).grouped_field_set
                    own = self._level(target, values, [fields])
                    if own.selected:
                        deeper.append(own)
                    for sub_details in fields.values():  # its plain lists (a page's edges)
                        step = self._shortcut_of(target, sub_details[0].node.name.value)
                        if type(step) is Items and not sub_details[0].node.arguments:
                            lists.append((step.list_type, sub_details, _items_read(step, values, context)))
                for list_type, list_details, items in lists:
                    nested = self._prefetch_level(list_type, list_details, items)
                    if nested is not None and nested.selected:
                        deeper.append(nested)
        return deeper

    def _reads_ahead(self, target: Any, field_details_list: Any) -> bool:
        """Whether a reference's selection on what it loads (`target`, its field's type) names
        references of its own, on the object or on the items of a list inside it: only then does
        `_deeper` read what it loaded. Once per selection and request."""
        return self._per_selection(PrefetchingExecutor._selects_references, target, field_details_list)

    def _selects_references(self, target: Any, field_details_list: Any) -> bool:
        if isinstance(target, GraphQLList):
            return self._items_select_references(target, field_details_list)
        if not isinstance(target, GraphQLObjectType):
            return False
        references = self.references.get(target.name, {})
        for details in self.collect_subfields(target, field_details_list).grouped_field_set.values():
            name = details[0].node.name.value
            if name in references:
                return True
            step = self._shortcut_of(target, name)
            if (
                type(step) is Items
                and not details[0].node.arguments
                and self._items_select_references(step.list_type, details)
            ):
                return True
        return False

    def _items_select_references(self, list_type: Any, field_details_list: Any) -> bool:
        selection = self._list_selection(list_type, field_details_list)
        if selection is None:
            return False
        owner_type, selections, _ = selection
        references = self.references.get(owner_type.name, {})
        return any(details[0].node.name.value in references for fields in selections for details in fields.values())

    def _arguments_of(self, owner_type: GraphQLObjectType, field_details_list: Any) -> dict[str, Any]:
        """A field's arguments as its Strawberry resolver receives them: graphql-core's coerced
        values, then Strawberry's conversion (input types, enums, Python names)."""
        details = field_details_list[0]
        field = owner_type.fields[details.node.name.value]
        definition = field.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
        strawberry_schema = self.schema._strawberry_schema  # type: ignore[attr-defined]
        coerced = get_argument_values(
            field, details.node, self.variable_values, details.fragment_variable_values, self.hide_suggestions
        )
        return convert_arguments(
            coerced,
            definition.arguments,
            scalar_registry=strawberry_schema.schema_converter.scalar_registry,
            config=strawberry_schema.config,
        )


@dataclass(frozen=True, slots=True)
class Leaf:
    """A plain scalar or enum attribute: read it, coerce it."""

    read: Callable[[Any, Any], Any]  # (source, request context) → the value
    coerce: Callable[[Any], Any]  # the leaf type's output coercion
    nullable: bool


@dataclass(frozen=True, slots=True)
class Child:
    """An object-valued field read without a resolver: a plain attribute (Edge.node) or a
    reference already loaded (User.account after the list's prefetch)."""

    read: Callable[[Any, Any], Any]  # (source, request context) → the object, None or NOT_LOADED
    return_type: GraphQLOutputType
    object_type: GraphQLObjectType
    classes: frozenset[type]  # instances of these are of object_type (see _exact_classes)
    nullable: bool


@dataclass(frozen=True, slots=True)
class Items:
    """A list of objects read without a resolver: a plain attribute (a connection's edges) or a
    reference already loaded (Account.admins). A plan completes each item by the item type's plan;
    graphql-core's list completion (where the items' references are prefetched) takes it otherwise."""

    read: Callable[[Any, Any], Any]  # (source, request context) → the list, None or NOT_LOADED
    list_type: GraphQLList[Any]  # the field's type, without its non-null
    object_type: GraphQLObjectType  # the items' type
    classes: frozenset[type]  # instances of these are of object_type (see _exact_classes)
    nullable: bool
    items_nullable: bool


@dataclass(frozen=True)
class PrefetchLevel:
    """One list's items (or its edges' nodes) and the references their selection names, with the
    reads made for them all at once (see PrefetchingExecutor._prefetch_level)."""

    owner_type: GraphQLObjectType
    owners: list[Any]
    selected: list[tuple[Reference, Any, Mapping[str, Any]]]  # (reference, its field details, its arguments)
    loads: list[Awaitable[Any]]


MAX_PREFETCH_DEPTH = 4  # levels of nested lists read ahead of a list's completion (pages in pages in …)


@dataclass(frozen=True, slots=True)
class Plan:
    """The Leafs and Childs (with plans of their own) of a selection, completed in one loop; the
    selection's other fields, if any, are its `rest`, which graphql-core executes after them."""

    steps: tuple[tuple[str, Leaf | Child | Items, Plan | None], ...]  # (response name, field, its items' plan)
    rest: dict[str, Any] | None = None  # response name → field details, as collect_subfields groups them
    order: dict[str, None] | None = None  # with a rest: every response name, in selection order

    def run(self, source: Any, context: Any) -> dict[str, Any] | None:
        """The steps' values (with the rest's places held, in order), or None where graphql-core's
        path must decide: a value missing where one is required, one that does not coerce, an
        object of another class or cast, a reference not loaded, an error."""
        completed: dict[str, Any] = {} if self.order is None else self.order.copy()
        for response_name, shortcut, sub in self.steps:
            try:
                value = shortcut.read(source, context)
            except Exception:
                return None
            if value is None:
                if not shortcut.nullable:
                    return None
                completed[response_name] = None
            elif sub is None:  # a Leaf
                if value is NOT_LOADED or isinstance(value, Exception):
                    return None
                try:
                    coerced = shortcut.coerce(value)  # type: ignore[union-attr]
                except Exception:
                    return None
                if coerced is None or coerced is Undefined:
                    return None
                completed[response_name] = coerced
            elif type(shortcut) is Items:
                if type(value) is not list:
                    return None
                items: list[Any] = []
                for item in value:
                    if item is None:
                        if not shortcut.items_nullable:
                            return None
                        items.append(None)
                        continue
                    if type(item) not in shortcut.classes or get_strawberry_type_cast(item) is not None:
                        return None
                    inner = sub.run(item, context)
                    if inner is None:
                        return None
                    items.append(inner)
                completed[response_name] = items
            else:
                if type(value) not in shortcut.classes or get_strawberry_type_cast(value) is not None:  # type: ignore[union-attr]
                    return None
                inner = sub.run(value, context)
                if inner is None:
                    return None
                completed[response_name] = inner
        return completed


async def _settled(reads: list[Awaitable[Any]]) -> None:
    """Once every read is done. A batch's futures complete together, so this wakes about once per
    batch, where gathering them would schedule a callback for each read (50 per page). A failed
    read stays in its loader's cache: each item's field reports it, as without the prefetch."""
    for read in reads:
        with contextlib.suppress(Exception):  # reported by the field that reads it (above)
            await read


def _merged(completed: dict[str, Any], rest: dict[str, Any], asked: dict[str, Any]) -> dict[str, Any]:
    completed.update(rest)
    if len(rest) != len(asked):  # a field the schema does not have: graphql-core leaves it out
        for name in asked.keys() - rest.keys():
            del completed[name]
    return completed


def _list_coercion(coerce: Callable[[Any], Any], items_required: bool) -> Callable[[Any], list[Any] | None]:
    """A Leaf's coercion for a list of scalars or enums (Case.accountNumbers): each item's, or None
    (graphql-core's path decides) for a value that is not a list, or an item that is missing where
    one is required or does not coerce."""

    def coerce_list(value: Any) -> list[Any] | None:
        if type(value) is not list:
            return None
        coerced: list[Any] = []
        for item in value:
            if item is None:
                if items_required:
                    return None
                coerced.append(None)
                continue
            one = coerce(item)
            if one is None or one is Undefined:
                return None
            coerced.append(one)
        return coerced

    return coerce_list


def _type_name(name: str) -> Leaf:
    """`__typename` in a plan: graphql-core answers it with the object type's name."""
    return Leaf(lambda source, context: name, str, False)


def _object_step(field: GraphQLField, read: Callable[[Any, Any], Any]) -> Child | Items | None:
    """A Child for a field of object type, Items for a list of objects (not nested lists), else
    None (an interface, a union)."""
    nullable = not isinstance(field.type, GraphQLNonNull)
    target = get_nullable_type(field.type)
    if isinstance(target, GraphQLList):
        found = _item_object(target.of_type)
        if found is None:
            return None
        items_nullable = not isinstance(target.of_type, GraphQLNonNull)
        return Items(read, target, found[0], found[1], nullable, items_nullable)
    if not isinstance(target, GraphQLObjectType) or (classes := _exact_classes(target)) is None:
        return None
    return Child(read, field.type, target, classes, nullable)


def _items_read(step: Items, sources: list[Any], context: Any) -> list[Any]:
    """Every item of `step`'s list on each source, in order; a source whose read fails or gives no
    list adds none (its own completion reports that)."""
    items: list[Any] = []
    for source in sources:
        try:
            value = step.read(source, context)
        except Exception:  # that source's own completion reports it
            value = None
        if type(value) is list:
            items.extend(value)
    return items


def _item_object(item_type: GraphQLOutputType) -> tuple[GraphQLObjectType, frozenset[type]] | None:
    object_type = get_nullable_type(item_type)
    if not isinstance(object_type, GraphQLObjectType) or (classes := _exact_classes(object_type)) is None:
        return None
    return object_type, classes


def _exact_classes(object_type: GraphQLObjectType) -> frozenset[type] | None:
    """The classes whose instances Strawberry's is_type_of always takes as `object_type`: its own
    class, and for a generic's specialisation (UserEdge of Edge[User]) the generic class. None for
    a type that is not Strawberry's or that has an is_type_of of its own."""
    definition = object_type.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or definition.is_type_of is not None:
        return None
    generic = definition.concrete_of.origin if definition.concrete_of is not None else definition.origin
    return frozenset({definition.origin, generic})


def resolve_references_directly(schema: GraphQLSchema, references: Mapping[str, Mapping[str, Reference]]) -> None:
    """Each reference field without arguments (User.account, …) resolves through its Reference
    itself rather than Strawberry's resolver chain (argument parsing, an Info object, field
    extensions — such a reference reads only the request's context): the same result as the
    field's Strawberry resolver, which calls the same Reference, at a third of the cost per item.
    A reference with arguments keeps its resolver, which converts them. Resolver middleware
    (GraphQL tracing) still wraps each: graphql-core applies that to any resolver."""
    for owner, fields in references.items():
        owner_type = schema.type_map[owner]
        assert isinstance(owner_type, GraphQLObjectType), owner
        for name, reference in fields.items():
            field = owner_type.fields[name]
            definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if getattr(definition, "extensions", None) or getattr(definition, "permission_classes", None):
                raise TypeError(f"{owner}.{name} has field extensions: not a plain reference")
            if bool(field.args) != (reference.arguments is not None):
                raise TypeError(f"{owner}.{name}: a reference names `arguments` exactly when its field takes some")
            if not field.args:
                field.resolve = reference.resolve_field


def references_of(domains: Sequence[Any]) -> dict[str, dict[str, Reference]]:
    """The domains' REFERENCES merged (a field belongs to one domain)."""
    merged: dict[str, dict[str, Reference]] = {}
    for domain in domains:
        for owner, fields in domain.REFERENCES.items():
            merged.setdefault(owner, {}).update(fields)
    return merged

"""Limits on a GraphQL document, checked before it is validated or run.

Everything here is computed on the parsed document without expanding fragments: each fragment is
measured once (memoized) and a spread reuses its figures, so a document of fragments that each
spread the next twice costs linear time here instead of doubling with every fragment. The cheap
counts (fragments, root fields, field selections written) come first; graphql-core's validation,
which can be quadratic in the number of selections, only ever sees documents within them.

Cost: a field costs 1 each time it resolves; a field with `first` multiplies what is under it by
that page size (its default when omitted, the 100 cap when it comes from a variable); any other
list multiplies by its known maximum (LIST_MAXIMA, else DEFAULT_LIST_MAX). Connection `edges` lists
are sized by their connection's `first` and count once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

from portalkit.pagination import MAX_PAGE_SIZE

MAX_TOKENS = 3000
MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_COST = 20_000
MAX_FRAGMENTS = 50
MAX_ROOT_FIELDS = 20
MAX_SELECTIONS = 500  # field selections written in the document, fragments counted once
DEFAULT_LIST_MAX = 100
# Unpaginated lists and the most items they can hold (the services enforce the same numbers).
LIST_MAXIMA = {
    "Account.admins": 50,
    "Invoice.lines": 50,
    "Payment.invoices": 100,
    "PaymentPreview.invoices": 100,
    "Query.announcements": 100,
    "Case.attachments": 20,
    "Case.accountNumbers": 20,
    "Query.paymentMethods": 20,
    "Query.knowledgeSearch": 50,
}


@dataclass(frozen=True)
class Limit:
    """A refused document: what to tell the client and the machine-readable reason."""

    message: str
    reason: str


@dataclass(frozen=True)
class _Figures:
    cost: int
    depth: int
    aliases: int
    root_fields: int


class _Measure:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._memo: dict[str, _Figures] = {}
        self._visiting: set[str] = set()

    def fragment(self, name: str) -> _Figures:
        if name in self._memo:
            return self._memo[name]
        definition = self.fragments.get(name)
        if definition is None:
            raise _Refused(Limit(f'Unknown fragment "{name}".', "GRAPHQL_VALIDATION_FAILED"))
        if name in self._visiting:
            raise _Refused(Limit(f'Fragment "{name}" spreads itself.', "GRAPHQL_VALIDATION_FAILED"))
        self._visiting.add(name)
        figures = self.selections(definition.selection_set, self.schema.get_type(definition.type_condition.name.value))
        self._visiting.discard(name)
        self._memo[name] = figures
        return figures

    def selections(self, selection_set: SelectionSetNode | None, parent: Any) -> _Figures:
        if selection_set is not None and not selection_set.selections:
            raise _Refused(Limit("An empty selection set { } selects nothing.", "GRAPHQL_VALIDATION_FAILED"))
        cost = depth = aliases = fields = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                fields += 1
                aliases += 1 if selection.alias else 0
                definition = getattr(parent, "fields", {}).get(selection.name.value)
                child_type = get_named_type(definition.type) if definition is not None else None
                child = self.selections(selection.selection_set, child_type)
                times = _multiplier(parent, selection, definition, self.variables) if definition is not None else 1
                cost += 1 + times * child.cost
                depth = max(depth, 1 + child.depth)
                aliases += child.aliases
            else:
                if isinstance(selection, FragmentSpreadNode):
                    inner = self.fragment(selection.name.value)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    target = self.schema.get_type(condition.name.value) if condition else parent
                    inner = self.selections(selection.selection_set, target)
                else:
                    continue
                cost += inner.cost
                depth = max(depth, inner.depth)
                aliases += inner.aliases
                fields += inner.root_fields
        return _Figures(cost, depth, aliases, fields)


class _Refused(Exception):
    def __init__(self, limit: Limit) -> None:
        self.limit = limit


def _multiplier(parent: Any, node: FieldNode, definition: Any, variables: dict[str, Any]) -> int:
    if "first" in definition.args:
        for argument in node.arguments or ():
            if argument.name.value == "first":
                if isinstance(argument.value, IntValueNode):
                    return max(1, min(int(argument.value.value), MAX_PAGE_SIZE))
                if isinstance(argument.value, VariableNode):
                    value = variables.get(argument.value.name.value)
                    if value is None:
                        break  # not sent: the field's default applies
                    return max(1, min(value, MAX_PAGE_SIZE)) if isinstance(value, int) else MAX_PAGE_SIZE
        default = definition.args["first"].default_value
        return default if isinstance(default, int) and default > 0 else MAX_PAGE_SIZE
    field_type = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
    if not isinstance(field_type, GraphQLList):
        return 1
    parent_name = getattr(parent, "name", "")
    if parent_name.endswith("Connection") and node.name.value == "edges":
        return 1  # sized by the connection's `first`
    return LIST_MAXIMA.get(f"{parent_name}.{node.name.value}", DEFAULT_LIST_MAX)


def _count_fields(document: DocumentNode) -> int:
    """Field selections as written (a fragment's once, however often it is spread)."""
    count, stack = 0, [d.selection_set for d in document.definitions if hasattr(d, "selection_set")]
    while stack:
        selection_set = stack.pop()
        for selection in selection_set.selections if selection_set else ():
            count += isinstance(selection, FieldNode)
            if getattr(selection, "selection_set", None) is not None:
                stack.append(selection.selection_set)  # type: ignore[union-attr]
    return count


def operation_of(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        for operation in operations:
            if operation.name and operation.name.value == operation_name:
                return operation
        raise _Refused(Limit(f'Unknown operation named "{operation_name}".', "OPERATION_NOT_FOUND"))
    if len(operations) != 1:
        raise _Refused(
            Limit(
                "Must provide operationName when the document holds several operations."
                if operations
                else "The document holds no operation.",
                "OPERATION_NAME_REQUIRED" if operations else "GRAPHQL_VALIDATION_FAILED",
            )
        )
    return operations[0]


def check_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    *,
    over_http: bool,
    variables: dict[str, Any] | None = None,
) -> Limit | None:
    """The first limit `document` breaks, or None. Linear in the size of the document. A page size
    given as a variable counts with the value sent (the 100 cap when it is not an integer)."""
    try:
        fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
        if len(fragments) > MAX_FRAGMENTS:
            return Limit(f"at most {MAX_FRAGMENTS} fragments per document", "TOO_MANY_FRAGMENTS")
        written = _count_fields(document)
        if written > MAX_SELECTIONS:
            return Limit(f"at most {MAX_SELECTIONS} field selections per document ({written})", "TOO_MANY_SELECTIONS")
        operation = operation_of(document, operation_name)
        if over_http and operation.operation == OperationType.SUBSCRIPTION:
            return Limit("subscriptions run over a WebSocket (graphql-transport-ws)", "SUBSCRIPTION_OVER_HTTP")
        root = schema.get_root_type(operation.operation)
        if not isinstance(root, GraphQLObjectType):
            return Limit(f"this schema has no {operation.operation.value} type", "GRAPHQL_VALIDATION_FAILED")
        values = dict(variables or {})
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if values.get(name) is None and isinstance(definition.default_value, IntValueNode):
                values[name] = int(definition.default_value.value)  # the operation's own default
        measure = _Measure(schema, document, values)
        for fragment in fragments:  # every fragment is checked, spread or not (cycles, unknown spreads)
            measure.fragment(fragment.name.value)
        figures = measure.selections(operation.selection_set, root)
    except _Refused as refused:
        return refused.limit
    if figures.root_fields > MAX_ROOT_FIELDS:
        return Limit(f"at most {MAX_ROOT_FIELDS} root fields per operation", "TOO_MANY_ROOT_FIELDS")
    if figures.depth > MAX_DEPTH:
        return Limit(f"query is too deep ({figures.depth} > {MAX_DEPTH})", "QUERY_TOO_DEEP")
    if figures.aliases > MAX_ALIASES:
        return Limit(f"too many aliases ({figures.aliases} > {MAX_ALIASES})", "TOO_MANY_ALIASES")
    if figures.cost > MAX_COST:
        return Limit(f"query is too costly ({figures.cost} > {MAX_COST}); ask for smaller pages", "QUERY_TOO_COSTLY")
    return None

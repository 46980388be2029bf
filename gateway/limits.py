"""Query cost limit: a validation rule that refuses a query whose estimated work is too large before
anything runs. A field costs 1 per time it resolves; a field with `first` multiplies what is under it
by that page size (its default when omitted, the 100 cap when it comes from a variable). Fragments
are followed, so cost cannot hide in them."""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    get_named_type,
)

from portalkit.pagination import MAX_PAGE_SIZE

MAX_COST = 20_000


class CostLimitRule(ValidationRule):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        root = self.context.schema.get_root_type(node.operation)
        if root is None:
            return
        cost = self._cost(node.selection_set, root, 1, set())
        if cost > MAX_COST:
            self.report_error(GraphQLError(f"query is too costly ({cost} > {MAX_COST}); ask for smaller pages", node))

    def _cost(self, selections: SelectionSetNode | None, parent: Any, factor: int, seen: set[str]) -> int:
        if selections is None:
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                field = (
                    parent.fields.get(selection.name.value)
                    if isinstance(parent, GraphQLObjectType) or hasattr(parent, "fields")
                    else None
                )
                if field is None:
                    continue
                total += factor
                child = get_named_type(field.type)
                total += self._cost(selection.selection_set, child, factor * _page_size(selection, field), seen)
            elif isinstance(selection, InlineFragmentNode):
                target = (
                    self.context.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent
                )
                total += self._cost(selection.selection_set, target, factor, seen)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                fragment = self.context.get_fragment(selection.name.value)
                if fragment is not None:
                    target = self.context.schema.get_type(fragment.type_condition.name.value)
                    total += self._cost(fragment.selection_set, target, factor, seen | {selection.name.value})
        return total


def _page_size(node: FieldNode, field: Any) -> int:
    if "first" not in field.args:
        return 1
    for argument in node.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                return max(1, min(int(argument.value.value), MAX_PAGE_SIZE))
            if isinstance(argument.value, VariableNode):
                return MAX_PAGE_SIZE
    default = field.args["first"].default_value
    return default if isinstance(default, int) and default > 0 else MAX_PAGE_SIZE

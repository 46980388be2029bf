"""The root types: each domain contributes its fields by inheritance."""

from __future__ import annotations

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from gateway.errors import shape_error
from gateway.limits import CostLimitRule
from gateway.schema import billing, cases, contacts
from gateway.schema.common import Node
from gateway.schema.identity import (
    Ctx,
    IdentityMutation,
    IdentityQuery,
    IdentitySubscription,
    resolve_identity_node,
)

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 3000


@strawberry.type
class Query(IdentityQuery):
    @strawberry.field
    async def node(self, info: Ctx, id: strawberry.ID) -> Node | None:
        await info.context.caller()
        return await resolve_identity_node(info, str(id))


@strawberry.type
class Mutation(IdentityMutation):
    pass


@strawberry.type
class Subscription(IdentitySubscription):
    pass


class ErrorShaping(SchemaExtension):
    """Every error leaves with an extensions.code and without internals (see gateway.errors)."""

    def on_operation(self):  # type: ignore[no-untyped-def]
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [shape_error(e) for e in result.errors]


class PortalSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None):  # type: ignore[no-untyped-def]
        """Client errors are not ours to log; shape_error logs the unexpected ones."""


def _contract_types() -> list[type]:
    """The other domains' contract types, in the graph before their root fields exist."""
    found = []
    for module in (contacts, cases, billing):
        for value in vars(module).values():
            is_strawberry = hasattr(value, "__strawberry_definition__") or hasattr(value, "_enum_definition")
            if isinstance(value, type) and value.__module__ == module.__name__ and is_strawberry:
                found.append(value)
    return found


schema = PortalSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=_contract_types(),
    extensions=[
        ErrorShaping,
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules([CostLimitRule]),
    ],
)

"""The schema, assembled from the domain packages: each contributes its root fields (Query, Mutation,
Subscription mixins), its node-id prefixes (NODES) and the types no field reaches yet (TYPES).
A new domain is a package gateway/schema/<domain>/ with those names and one line in DOMAINS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.tools import merge_types

from gateway.errors import shape_error
from gateway.limits import CostLimitRule
from gateway.schema import billing, cases, contacts, identity
from gateway.schema.common import Ctx, Node, NodeResolver

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 3000


class Domain(Protocol):
    """What a domain package exposes (its __init__)."""

    @property
    def Query(self) -> type: ...

    @property
    def Mutation(self) -> type: ...

    @property
    def Subscription(self) -> type: ...

    @property
    def NODES(self) -> Mapping[str, NodeResolver]: ...

    @property
    def TYPES(self) -> Sequence[type]: ...


DOMAINS: list[Domain] = [identity, contacts, cases, billing]


def node_registry(domains: Sequence[Domain]) -> dict[str, NodeResolver]:
    """Id prefix (`usr_`) → the owning domain's resolver; a prefix may belong to one domain only."""
    registry: dict[str, NodeResolver] = {}
    for domain in domains:
        for prefix, resolve in domain.NODES.items():
            if prefix in registry or not prefix.endswith("_") or "_" in prefix[:-1]:
                raise ValueError(f"node id prefix {prefix!r}: taken by another domain, or not `xxx_`")
            registry[prefix] = resolve
    return registry


NODES = node_registry(DOMAINS)


async def resolve_node(info: Ctx, node_id: str) -> Node | None:
    head, underscore, _ = node_id.partition("_")
    resolve = NODES.get(head + underscore)
    return await resolve(info, node_id) if resolve else None


@strawberry.type
class NodeQuery:
    @strawberry.field
    async def node(self, info: Ctx, id: strawberry.ID) -> Node | None:
        await info.context.caller()
        return await resolve_node(info, str(id))


# Fields in DOMAINS order, `node` first as in the contract.
Query = merge_types("Query", (NodeQuery, *(d.Query for d in DOMAINS)))
Mutation = merge_types("Mutation", tuple(d.Mutation for d in DOMAINS))
Subscription = merge_types("Subscription", tuple(d.Subscription for d in DOMAINS))


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


schema = PortalSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[t for d in DOMAINS for t in d.TYPES],
    extensions=[
        ErrorShaping,
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules([CostLimitRule]),
    ],
)

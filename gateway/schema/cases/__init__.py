"""Cases in the graph: the contract's types; root fields arrive with the cases service."""

from __future__ import annotations

import strawberry

from gateway.schema.cases.enums import CaseOrder
from gateway.schema.cases.mutations import CasesMutation as Mutation
from gateway.schema.cases.queries import CasesQuery as Query
from gateway.schema.cases.types import (
    ArticleSearchResult,
    Case,
    CaseComment,
    CaseFilter,
    CreateCaseInput,
    PublishArticleInput,
    UpdateCaseInput,
)
from gateway.schema.common import Connection, NodeResolver


@strawberry.type
class CasesSubscription:
    """None yet: caseUpdated arrives with the cases service's events."""


Subscription = CasesSubscription

NODES: dict[str, NodeResolver] = {}  # cases and articles, once the service can read them whole
# No root field reaches these yet; each goes once one does.
TYPES: list[type] = [
    Connection[Case],
    Connection[CaseComment],
    CaseFilter,
    CaseOrder,
    CreateCaseInput,
    UpdateCaseInput,
    ArticleSearchResult,
    PublishArticleInput,
]

__all__ = ["NODES", "TYPES", "Mutation", "Query", "Subscription"]

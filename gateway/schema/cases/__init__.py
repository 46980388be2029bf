"""Cases in the graph: cases, comments and internal notes, triage, attachments, live updates.
Email-to-case (linkCase) and the knowledge base have their own issue."""

from __future__ import annotations

from gateway.schema.cases.mutations import CasesMutation as Mutation
from gateway.schema.cases.queries import CasesQuery as Query
from gateway.schema.cases.subscriptions import CasesSubscription as Subscription
from gateway.schema.cases.types import ArticleSearchResult, PublishArticleInput, load_case
from gateway.schema.common import NodeResolver

NODES: dict[str, NodeResolver] = {"cas_": load_case}
# No root field reaches these yet (the knowledge-base issue brings them).
TYPES: list[type] = [ArticleSearchResult, PublishArticleInput]

__all__ = ["NODES", "TYPES", "Mutation", "Query", "Subscription"]

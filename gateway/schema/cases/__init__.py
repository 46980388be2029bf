"""Cases in the graph: cases, comments and internal notes, triage, attachments, live updates,
linking mailed-in cases, and the knowledge base."""

from __future__ import annotations

from gateway.schema.cases.mutations import CasesMutation as Mutation
from gateway.schema.cases.queries import CasesQuery as Query
from gateway.schema.cases.subscriptions import CasesSubscription as Subscription
from gateway.schema.cases.types import REFERENCES, load_article, load_case
from gateway.schema.common import NodeResolver

NODES: dict[str, NodeResolver] = {"cas_": load_case, "art_": load_article}
TYPES: list[type] = []

__all__ = ["NODES", "REFERENCES", "TYPES", "Mutation", "Query", "Subscription"]

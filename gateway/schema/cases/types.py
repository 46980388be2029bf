"""Cases' graph types, as the contract has them: cases, comments, attachments, knowledge articles."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.file_uploads import Upload

from gateway.schema.cases.enums import CaseChannel, CasePriority, CaseStatus, Environment
from gateway.schema.common import Node
from gateway.schema.identity.enums import SupportTeam

if TYPE_CHECKING:
    from gateway.schema.identity.types import Account, User


@strawberry.type()
class Attachment:
    id: strawberry.ID
    filename: str
    content_type: str
    size: int
    url: str = strawberry.field(description="Short-lived download URL served by the gateway.")
    created_at: datetime


@strawberry.type()
class Case(Node):
    id: strawberry.ID
    number: str
    ref_tag: str = strawberry.field(
        description="Token to put in an email subject so that replies thread into this case."
    )
    account: Annotated[Account, strawberry.lazy("gateway.schema.identity.types")] | None = strawberry.field(
        description="Null until staff link a case mailed in by someone who is not a portal user (linkCase)."
    )
    requester: Annotated[User, strawberry.lazy("gateway.schema.identity.types")] | None = strawberry.field(
        description="The portal user who opened the case; null when it was mailed in by someone who is not one."
    )
    subject: str
    description: str
    product: str | None
    environment: Environment | None
    error_message: str | None
    issue_started_at: datetime | None
    account_numbers: list[str]
    priority: CasePriority
    status: CaseStatus
    team: SupportTeam
    assignee: Annotated[User, strawberry.lazy("gateway.schema.identity.types")] | None
    channel: CaseChannel
    related_case: Case | None
    attachments: list[Attachment]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


@strawberry.type()
class CaseComment:
    id: strawberry.ID
    author: Annotated[User, strawberry.lazy("gateway.schema.identity.types")] | None
    author_email: str
    body: str
    internal: bool = strawberry.field(description="Internal notes are visible to staff only.")
    channel: CaseChannel
    attachments: list[Attachment]
    created_at: datetime


@strawberry.input()
class CaseFilter:
    status: list[CaseStatus] | None = None
    team: SupportTeam | None = None
    priority: CasePriority | None = None
    assignee_id: strawberry.ID | None = None
    requester_id: strawberry.ID | None = None
    account_id: strawberry.ID | None = None
    search: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@strawberry.input()
class CreateCaseInput:
    subject: str
    description: str
    product: str | None = None
    environment: Environment | None = None
    error_message: str | None = None
    issue_started_at: datetime | None = None
    account_numbers: list[str] | None = None
    priority: CasePriority | None = CasePriority["NORMAL"]
    related_case_number: str | None = strawberry.field(
        default=None, description="Case number of an earlier case this one follows up."
    )
    attachments: list[Upload] | None = None


@strawberry.input()
class UpdateCaseInput:
    subject: str | None = None
    description: str | None = None
    product: str | None = None
    environment: Environment | None = None
    error_message: str | None = None
    issue_started_at: datetime | None = None
    account_numbers: list[str] | None = None
    priority: CasePriority | None = None


@strawberry.type()
class Article(Node):
    id: strawberry.ID
    slug: str
    title: str
    body: str
    product: str | None
    tags: list[str]
    helpful_count: int
    not_helpful_count: int
    updated_at: datetime


@strawberry.type()
class ArticleSearchResult:
    article: Article
    score: float
    highlight: str | None = strawberry.field(description="Snippet of the body around the best match.")


@strawberry.input()
class PublishArticleInput:
    slug: str
    title: str
    body: str
    product: str | None = None
    tags: list[str] | None = None

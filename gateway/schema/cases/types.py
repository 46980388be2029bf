"""Cases' graph types, as the contract has them: cases, comments, attachments, knowledge articles."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import strawberry
from strawberry.file_uploads import Upload

from gateway.context import PortalContext
from gateway.schema.cases import loaders
from gateway.schema.cases.enums import CaseChannel, CasePriority, CaseStatus, Environment
from gateway.schema.common import (
    Connection,
    Ctx,
    Node,
    Reference,
    References,
    connection,
    dt,
    made,
    on_read,
    optional_dt,
    page_size,
    read_by_id,
    to_pb,
)
from gateway.schema.identity import loaders as identity_loaders
from gateway.schema.identity.enums import SupportTeam
from portalkit.convert import to_timestamp
from protos.cases.v1 import cases_pb2 as pb

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

    @classmethod
    def from_pb(cls, m: pb.Attachment, base_url: str) -> Attachment:
        return cls(
            id=strawberry.ID(m.id),
            filename=m.filename,
            content_type=m.content_type,
            size=m.size,
            url=download_url(base_url, m.id, m.download_ticket),
            created_at=dt(m.created_at),
        )


def download_url(base_url: str, attachment_id: str, ticket: str) -> str:
    """The gateway route of gateway.schema.cases.downloads; the ticket is the viewer's own."""
    return f"{base_url.rstrip('/')}/attachments/{quote(attachment_id)}?t={quote(ticket)}"


def base_url_of(info: Ctx) -> str:
    return info.context.base_url


def attachments_of(root: Case | CaseComment) -> list[Attachment]:
    """Case.attachments and CaseComment.attachments, made when selected: their download links need
    the request's URL, which an on_read conversion (of the message alone) has not. (`root`:
    Strawberry's name for the owner.)"""
    return [Attachment.from_pb(a, root.base_url) for a in root.message.attachments]


@strawberry.type()
class Case(Node):
    id: strawberry.ID
    number: str
    ref_tag: str = strawberry.field(
        description="Token to put in an email subject so that replies thread into this case."
    )
    requester_email: str = strawberry.field(
        description="The address the case was opened from (the requester's, or the unknown sender's)."
    )
    subject: str
    description: str
    product: str | None = on_read(lambda m: m.product or None)
    environment: Environment | None = on_read(lambda m: Environment.from_pb(m.environment) if m.environment else None)
    error_message: str | None = on_read(lambda m: m.error_message or None)
    issue_started_at: datetime | None = on_read(lambda m: optional_dt(m, "issue_started_at"))
    account_numbers: list[str] = on_read(lambda m: list(m.account_numbers))
    priority: CasePriority = on_read(lambda m: CasePriority.from_pb(m.priority))
    status: CaseStatus = on_read(lambda m: CaseStatus.from_pb(m.status))
    team: SupportTeam = on_read(lambda m: SupportTeam.from_pb(m.team))
    channel: CaseChannel = on_read(lambda m: CaseChannel.from_pb(m.channel))
    attachments: list[Attachment] = strawberry.field(resolver=attachments_of)
    created_at: datetime = on_read(lambda m: dt(m.created_at))
    updated_at: datetime = on_read(lambda m: dt(m.updated_at))
    closed_at: datetime | None = on_read(lambda m: optional_dt(m, "closed_at"))
    account_id: strawberry.Private[str]
    requester_id: strawberry.Private[str]
    assignee_id: strawberry.Private[str]
    related_case_id: strawberry.Private[str]
    message: strawberry.Private[pb.Case]
    base_url: strawberry.Private[str]  # the request's: the attachments' download links start with it

    @classmethod
    def from_pb(cls, m: pb.Case, base_url: str) -> Case:
        return made(
            cls,
            m,
            id=strawberry.ID(m.id),
            number=m.number,
            ref_tag=m.ref_tag,
            requester_email=m.requester_email,
            subject=m.subject,
            description=m.description,
            base_url=base_url,
            account_id=m.account_id,
            requester_id=m.requester_id,
            assignee_id=m.assignee_id,
            related_case_id=m.related_case_id,
        )

    @strawberry.field(
        description="Null until staff link a case mailed in by someone who is not a portal user (linkCase)."
    )
    def account(self, info: Ctx) -> Annotated[Account, strawberry.lazy("gateway.schema.identity.types")] | None:
        return REFERENCES["Case"]["account"].resolve(info, self)

    @strawberry.field(
        description="The portal user who opened the case; null when it was mailed in by someone who is not one."
    )
    def requester(self, info: Ctx) -> Annotated[User, strawberry.lazy("gateway.schema.identity.types")] | None:
        return REFERENCES["Case"]["requester"].resolve(info, self)

    @strawberry.field
    def assignee(self, info: Ctx) -> Annotated[User, strawberry.lazy("gateway.schema.identity.types")] | None:
        return REFERENCES["Case"]["assignee"].resolve(info, self)

    @strawberry.field
    def related_case(self, info: Ctx) -> Case | None:
        return REFERENCES["Case"]["relatedCase"].resolve(info, self)

    @strawberry.field
    def comments(self, info: Ctx, first: int | None = 50, after: str | None = None) -> Connection[CaseComment]:
        return REFERENCES["Case"]["comments"].resolve(info, self, first=first, after=after)


@strawberry.type()
class CaseComment:
    id: strawberry.ID
    author_email: str
    body: str
    internal: bool = strawberry.field(description="Internal notes are visible to staff only.")
    channel: CaseChannel = on_read(lambda m: CaseChannel.from_pb(m.channel))
    attachments: list[Attachment] = strawberry.field(resolver=attachments_of)
    created_at: datetime = on_read(lambda m: dt(m.created_at))
    author_id: strawberry.Private[str]
    message: strawberry.Private[pb.Comment]
    base_url: strawberry.Private[str]  # the request's: the attachments' download links start with it

    @classmethod
    def from_pb(cls, m: pb.Comment, base_url: str) -> CaseComment:
        return made(
            cls,
            m,
            id=strawberry.ID(m.id),
            author_email=m.author_email,
            body=m.body,
            internal=m.internal,
            author_id=m.author_id,
            base_url=base_url,
        )

    @strawberry.field
    def author(self, info: Ctx) -> Annotated[User, strawberry.lazy("gateway.schema.identity.types")] | None:
        return REFERENCES["CaseComment"]["author"].resolve(info, self)


async def load_case(info: Ctx, case_id: str) -> Case | None:
    found = await info.context.loader(loaders.cases).load(case_id)
    return Case.from_pb(found, base_url_of(info)) if found is not None else None


def case_connection(info: Ctx, reply: pb.ListCasesResponse) -> Connection[Case]:
    base = base_url_of(info)
    return connection(reply, reply.cases, lambda c: Case.from_pb(c, base))


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
    unlinked: bool | None = strawberry.field(
        default=None, description="Staff: only cases mailed in by unknown senders and not yet linked to an account."
    )

    def to_pb(self) -> pb.CaseFilter:
        message = pb.CaseFilter(
            status=[s.to_pb() for s in self.status or []],
            team=to_pb(self.team),
            priority=to_pb(self.priority),
            assignee_id=self.assignee_id or "",
            requester_id=self.requester_id or "",
            account_id=self.account_id or "",
            search=self.search or "",
        )
        if self.created_after is not None:
            message.created_after.CopyFrom(to_timestamp(self.created_after))
        if self.created_before is not None:
            message.created_before.CopyFrom(to_timestamp(self.created_before))
        if self.unlinked is not None:
            message.unlinked = self.unlinked
        return message


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


def case_fields(values: Any, *, partial: bool) -> pb.CaseFields:
    """The CaseFields of CreateCaseInput or UpdateCaseInput: only what the caller gave is set."""
    message = pb.CaseFields(
        environment=to_pb(values.environment),
        priority=to_pb(values.priority),
    )
    for optional in ("subject", "description", "product", "error_message"):
        value = getattr(values, optional)
        if value is not None:
            setattr(message, optional, value)
    if values.issue_started_at is not None:
        message.issue_started_at.CopyFrom(to_timestamp(values.issue_started_at))
    if values.account_numbers is not None:
        message.account_numbers.extend(values.account_numbers)
        message.set_account_numbers = True
    return message


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

    @classmethod
    def from_pb(cls, m: pb.Article) -> Article:
        return cls(
            id=strawberry.ID(m.id),
            slug=m.slug,
            title=m.title,
            body=m.body,
            product=m.product or None,
            tags=list(m.tags),
            helpful_count=m.helpful_count,
            not_helpful_count=m.not_helpful_count,
            updated_at=dt(m.updated_at),
        )


load_article = read_by_id(loaders.articles, Article.from_pb)


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


def _user(found: Any, ctx: PortalContext) -> Any:
    from gateway.schema.identity.types import User

    return User.from_pb(found)


def _account(found: Any, ctx: PortalContext) -> Any:
    from gateway.schema.identity.types import Account

    return Account.from_pb(found)


def _comments(page: pb.CommentPage, ctx: PortalContext) -> Connection[CaseComment]:
    base = ctx.base_url
    return connection(page, page.comments, lambda c: CaseComment.from_pb(c, base))


REFERENCES: References = {
    "Case": {
        "account": Reference(identity_loaders.accounts, "account_id", _account),
        "requester": Reference(identity_loaders.users, "requester_id", _user),
        "assignee": Reference(identity_loaders.users, "assignee_id", _user),
        "relatedCase": Reference(
            loaders.cases, "related_case_id", lambda found, ctx: Case.from_pb(found, ctx.base_url)
        ),
        "comments": Reference(loaders.comments, "id", _comments, lambda first, after: (page_size(first), after or "")),
    },
    "CaseComment": {"author": Reference(identity_loaders.users, "author_id", _user)},
}

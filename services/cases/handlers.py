"""gRPC handlers of CasesService: convert, call the domain as the verified caller, convert back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import grpc.aio

from portalkit.auth import Caller
from portalkit.convert import from_timestamp, to_timestamp
from portalkit.enums import enum_name
from portalkit.grpc_server import caller, caller_token
from portalkit.pagination import Page
from protos.cases.v1 import cases_pb2 as pb
from protos.cases.v1 import cases_pb2_grpc as pb_grpc
from protos.identity.v1 import identity_pb2
from services.cases.domain import Cases, CommentPage, Upload

Context: TypeAlias = grpc.aio.ServicerContext
CHUNK = 256 * 1024


def _value(enum: Any, name: str | None) -> Any:
    return enum.Value(name) if name else 0


class Convert:
    """Documents to messages, as one caller sees them (download tickets are theirs)."""

    def __init__(self, cases: Cases, viewer: Caller) -> None:
        self.cases = cases
        self.viewer = viewer

    def attachment(self, doc: dict[str, Any]) -> pb.Attachment:
        return pb.Attachment(
            id=doc["_id"],
            filename=doc["filename"],
            content_type=doc["content_type"],
            size=int(doc["size"]),
            created_at=to_timestamp(doc["created_at"]),
            download_ticket=self.cases.ticket(self.viewer, doc["_id"]),
        )

    def case(self, doc: dict[str, Any]) -> pb.Case:
        message = pb.Case(
            id=doc["_id"],
            account_id=doc.get("account_id") or "",
            number=str(doc.get("number", "")),
            subject=str(doc.get("subject", "")),
            status=_value(pb.CaseStatus, doc.get("status")),
            created_at=to_timestamp(doc["created_at"]),
            ref_tag=doc.get("ref_tag", ""),
            requester_id=doc.get("requester_id") or "",
            requester_email=doc.get("requester_email") or "",
            description=doc.get("description") or "",
            product=doc.get("product") or "",
            environment=_value(pb.Environment, doc.get("environment")),
            error_message=doc.get("error_message") or "",
            account_numbers=doc.get("account_numbers") or [],
            priority=_value(pb.CasePriority, doc.get("priority") or "NORMAL"),
            team=_value(identity_pb2.SupportTeam, doc.get("team") or "CUSTOMER_CARE"),
            assignee_id=doc.get("assignee_id") or "",
            channel=_value(pb.CaseChannel, doc.get("channel") or "WEB"),
            related_case_id=doc.get("related_case_id") or "",
            attachments=[self.attachment(a) for a in self.cases.visible_attachments(self.viewer, doc)],
            updated_at=to_timestamp(doc.get("updated_at") or doc["created_at"]),
        )
        if doc.get("issue_started_at"):
            message.issue_started_at.CopyFrom(to_timestamp(doc["issue_started_at"]))
        if doc.get("closed_at"):
            message.closed_at.CopyFrom(to_timestamp(doc["closed_at"]))
        return message

    def comment(self, case_id: str, doc: dict[str, Any]) -> pb.Comment:
        return pb.Comment(
            id=doc["_id"],
            case_id=case_id,
            author_id=doc.get("author_id") or "",
            author_email=doc.get("author_email") or "",
            body=doc["body"],
            internal=bool(doc["internal"]),
            channel=_value(pb.CaseChannel, doc.get("channel") or "WEB"),
            attachments=[self.attachment({**a, "case_id": case_id}) for a in doc.get("attachments", [])],
            created_at=to_timestamp(doc["created_at"]),
        )

    def comment_page(self, page: CommentPage) -> pb.CommentPage:
        return pb.CommentPage(
            case_id=page.case_id,
            comments=[self.comment(page.case_id, c) for c in page.comments],
            next_page_token=page.next_token,
            total_count=page.total,
            cursors=page.cursors,
        )

    def case_page(self, page: Page) -> pb.ListCasesResponse:
        return pb.ListCasesResponse(
            cases=[self.case(d) for d in page.docs],
            next_page_token=page.next_token,
            total_count=page.total,
            cursors=page.cursors,
        )


def article_message(doc: dict[str, Any]) -> pb.Article:
    return pb.Article(
        id=doc["_id"],
        slug=doc["slug"],
        title=doc["title"],
        body=doc["body"],
        product=doc.get("product") or "",
        tags=doc.get("tags") or [],
        helpful_count=int(doc.get("helpful_count", 0)),
        not_helpful_count=int(doc.get("not_helpful_count", 0)),
        updated_at=to_timestamp(doc["updated_at"]),
    )


def _filters(request_filter: pb.CaseFilter) -> dict[str, Any]:
    filters: dict[str, Any] = {
        "status": [pb.CaseStatus.Name(s) for s in request_filter.status],
        "team": enum_name(identity_pb2.SupportTeam, request_filter.team),
        "priority": enum_name(pb.CasePriority, request_filter.priority),
        "assignee_id": request_filter.assignee_id,
        "requester_id": request_filter.requester_id,
        "account_id": request_filter.account_id,
        "search": request_filter.search,
    }
    for stamp in ("created_after", "created_before"):
        if request_filter.HasField(stamp):
            filters[stamp] = from_timestamp(getattr(request_filter, stamp))
    if request_filter.HasField("unlinked"):
        filters["unlinked"] = request_filter.unlinked
    return filters


def _fields(fields: pb.CaseFields) -> dict[str, Any]:
    """Only what the caller set."""
    values: dict[str, Any] = {}
    for optional in ("subject", "description", "product", "error_message"):
        if fields.HasField(optional):
            values[optional] = getattr(fields, optional)
    if fields.HasField("issue_started_at"):
        values["issue_started_at"] = from_timestamp(fields.issue_started_at)
    if fields.set_account_numbers or fields.account_numbers:
        values["account_numbers"] = list(fields.account_numbers)
    values["environment"] = enum_name(pb.Environment, fields.environment) or None
    values["priority"] = enum_name(pb.CasePriority, fields.priority) or None
    return values


def _uploads(files: Any) -> list[Upload]:
    return [Upload(f.filename, f.content_type, bytes(f.content)) for f in files]


class CasesHandlers(pb_grpc.CasesServiceServicer):
    def __init__(self, cases: Cases) -> None:
        self.cases = cases

    def _as(self, viewer: Caller) -> Convert:
        return Convert(self.cases, viewer)

    async def BatchGetCases(self, request: pb.BatchGetCasesRequest, context: Context) -> pb.BatchGetCasesResponse:
        viewer = caller()
        docs = await self.cases.get_cases(viewer, list(request.ids))
        return pb.BatchGetCasesResponse(cases=[self._as(viewer).case(d) for d in docs])

    async def GetCaseByNumber(self, request: pb.GetCaseByNumberRequest, context: Context) -> pb.Case:
        viewer = caller()
        return self._as(viewer).case(await self.cases.case_by_number(viewer, request.number))

    async def ListCases(self, request: pb.ListCasesRequest, context: Context) -> pb.ListCasesResponse:
        viewer = caller()
        page = await self.cases.list_cases(
            viewer,
            _filters(request.filter),
            enum_name(pb.CaseOrder, request.order),
            request.page_size,
            request.page_token,
        )
        return self._as(viewer).case_page(page)

    async def CreateCase(self, request: pb.CreateCaseRequest, context: Context) -> pb.Case:
        viewer = caller()
        case = await self.cases.create_case(
            viewer,
            _fields(request.fields),
            request.related_case_number,
            _uploads(request.attachments),
            enum_name(pb.CaseChannel, request.channel) or "WEB",
            token=caller_token(),
        )
        return self._as(viewer).case(case)

    async def UpdateCase(self, request: pb.UpdateCaseRequest, context: Context) -> pb.Case:
        viewer = caller()
        return self._as(viewer).case(await self.cases.update_case(viewer, request.id, _fields(request.fields)))

    async def CloseCase(self, request: pb.CaseIdRequest, context: Context) -> pb.Case:
        viewer = caller()
        case = await self.cases.close_case(viewer, request.id, token=caller_token())
        return self._as(viewer).case(case)

    async def SetCaseStatus(self, request: pb.SetCaseStatusRequest, context: Context) -> pb.Case:
        viewer = caller()
        status = enum_name(pb.CaseStatus, request.status)
        case = await self.cases.set_status(viewer, request.id, status, token=caller_token())
        return self._as(viewer).case(case)

    async def AssignCase(self, request: pb.AssignCaseRequest, context: Context) -> pb.Case:
        viewer = caller()
        team = enum_name(identity_pb2.SupportTeam, request.team)
        case = await self.cases.assign(viewer, request.id, team, request.assignee_id, token=caller_token())
        return self._as(viewer).case(case)

    async def AddComment(self, request: pb.AddCommentRequest, context: Context) -> pb.Comment:
        viewer = caller()
        comment, case = await self.cases.add_comment(
            viewer,
            request.case_id,
            request.body,
            request.internal,
            _uploads(request.attachments),
            enum_name(pb.CaseChannel, request.channel) or "WEB",
            token=caller_token(),
        )
        return self._as(viewer).comment(case["_id"], comment)

    async def LinkCase(self, request: pb.LinkCaseRequest, context: Context) -> pb.Case:
        viewer = caller()
        case = await self.cases.link_case(
            viewer, request.id, request.account_id, request.requester_id, token=caller_token()
        )
        return self._as(viewer).case(case)

    async def PublishArticle(self, request: pb.PublishArticleRequest, context: Context) -> pb.Article:
        values = {
            "slug": request.slug,
            "title": request.title,
            "body": request.body,
            "product": request.product,
            "tags": list(request.tags),
        }
        return article_message(await self.cases.publish_article(caller(), values))

    async def GetArticle(self, request: pb.GetArticleRequest, context: Context) -> pb.Article:
        return article_message(await self.cases.article(caller(), request.id, request.slug))

    async def BatchGetArticles(
        self, request: pb.BatchGetArticlesRequest, context: Context
    ) -> pb.BatchGetArticlesResponse:
        docs = await self.cases.get_articles(caller(), list(request.ids))
        return pb.BatchGetArticlesResponse(articles=[article_message(d) for d in docs])

    async def SearchArticles(self, request: pb.SearchArticlesRequest, context: Context) -> pb.SearchArticlesResponse:
        found = await self.cases.search_articles(caller(), request.query, request.product, request.page_size)
        hits = [pb.ArticleHit(article=article_message(a), score=h.score, highlight=h.highlight) for a, h in found]
        return pb.SearchArticlesResponse(hits=hits)

    async def RateArticle(self, request: pb.RateArticleRequest, context: Context) -> pb.Article:
        return article_message(await self.cases.rate_article(caller(), request.id, request.helpful))

    async def BatchListComments(
        self, request: pb.BatchListCommentsRequest, context: Context
    ) -> pb.BatchListCommentsResponse:
        viewer = caller()
        pages = await self.cases.comment_pages(viewer, list(request.case_ids), request.page_size, request.page_token)
        return pb.BatchListCommentsResponse(pages=[self._as(viewer).comment_page(p) for p in pages])

    async def DownloadAttachment(
        self, request: pb.DownloadAttachmentRequest, context: Context
    ) -> AsyncIterator[pb.AttachmentChunk]:
        attachment = await self.cases.download(caller(), request.id, request.ticket)
        content: bytes = attachment["content"]
        yield pb.AttachmentChunk(
            filename=attachment["filename"],
            content_type=attachment["content_type"],
            size=len(content),
            content=content[:CHUNK],
        )
        for start in range(CHUNK, len(content), CHUNK):
            yield pb.AttachmentChunk(content=content[start : start + CHUNK])

"""Cases' mutations: cases, comments, triage, linking a mailed-in case, the knowledge base."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.file_uploads import Upload

from gateway.errors import bad_input
from gateway.schema.cases.enums import CaseStatus
from gateway.schema.cases.types import (
    Article,
    Case,
    CaseComment,
    CreateCaseInput,
    PublishArticleInput,
    UpdateCaseInput,
    base_url_of,
    case_fields,
)
from gateway.schema.common import Ctx, to_pb
from gateway.schema.identity.enums import SupportTeam
from protos.cases.v1 import cases_pb2 as pb

# The service decides (size, count and type); the gateway only stops reading early.
MAX_READ = 2 * 1024 * 1024
MAX_FILES = 5


async def read_uploads(files: list[Upload] | None) -> list[pb.AttachmentUpload]:
    files = list(files or [])
    if len(files) > MAX_FILES:
        raise bad_input(f"at most {MAX_FILES} attachments at once", "TOO_MANY_ATTACHMENTS")
    out = []
    for file in files:
        upload: Any = file  # starlette's UploadFile
        content = await upload.read(MAX_READ + 1)
        if len(content) > MAX_READ:
            raise bad_input(f"{upload.filename} is larger than {MAX_READ // (1024 * 1024)} MiB", "ATTACHMENT_TOO_LARGE")
        out.append(
            pb.AttachmentUpload(filename=upload.filename or "", content_type=upload.content_type or "", content=content)
        )
    return out


@strawberry.type
class CasesMutation:
    @strawberry.mutation(description="A customer user opens a case; the requester gets an autoreply mail.")
    async def create_case(self, info: Ctx, input: CreateCaseInput) -> Case:
        ctx = info.context
        request = pb.CreateCaseRequest(
            fields=case_fields(input, partial=False),
            related_case_number=input.related_case_number or "",
            attachments=await read_uploads(input.attachments),
            channel=pb.WEB,
        )
        return Case.from_pb(await ctx.call("cases", ctx.clients.stubs["cases"].CreateCase, request), base_url_of(info))

    @strawberry.mutation
    async def update_case(self, info: Ctx, id: strawberry.ID, input: UpdateCaseInput) -> Case:
        ctx = info.context
        request = pb.UpdateCaseRequest(id=id, fields=case_fields(input, partial=True))
        return Case.from_pb(await ctx.call("cases", ctx.clients.stubs["cases"].UpdateCase, request), base_url_of(info))

    @strawberry.mutation(description="Staff may add internal notes (internal: true), never shown to customers.")
    async def add_case_comment(
        self,
        info: Ctx,
        case_id: strawberry.ID,
        body: str,
        internal: bool | None = False,
        attachments: list[Upload] | None = None,
    ) -> CaseComment:
        ctx = info.context
        request = pb.AddCommentRequest(
            case_id=case_id,
            body=body,
            internal=bool(internal),
            attachments=await read_uploads(attachments),
            channel=pb.WEB,
        )
        reply = await ctx.call("cases", ctx.clients.stubs["cases"].AddComment, request)
        return CaseComment.from_pb(reply, base_url_of(info))

    @strawberry.mutation
    async def close_case(self, info: Ctx, id: strawberry.ID) -> Case:
        ctx = info.context
        reply = await ctx.call("cases", ctx.clients.stubs["cases"].CloseCase, pb.CaseIdRequest(id=id))
        return Case.from_pb(reply, base_url_of(info))

    @strawberry.mutation(description="Staff.")
    async def set_case_status(self, info: Ctx, id: strawberry.ID, status: CaseStatus) -> Case:
        ctx = info.context
        request = pb.SetCaseStatusRequest(id=id, status=status.to_pb())
        reply = await ctx.call("cases", ctx.clients.stubs["cases"].SetCaseStatus, request)
        return Case.from_pb(reply, base_url_of(info))

    @strawberry.mutation(
        description="Staff: route to a team and/or an agent; CLIENT_SUCCESS without an agent goes to the "
        "account's Client Success Manager."
    )
    async def assign_case(
        self, info: Ctx, id: strawberry.ID, team: SupportTeam | None = None, assignee_id: strawberry.ID | None = None
    ) -> Case:
        ctx = info.context
        request = pb.AssignCaseRequest(id=id, team=to_pb(team), assignee_id=assignee_id or "")
        reply = await ctx.call("cases", ctx.clients.stubs["cases"].AssignCase, request)
        return Case.from_pb(reply, base_url_of(info))

    @strawberry.mutation(
        description="Staff: attach a case mailed in by an unknown sender to an account (and to a user of it, "
        "if one matches)."
    )
    async def link_case(
        self, info: Ctx, id: strawberry.ID, account_id: strawberry.ID, requester_id: strawberry.ID | None = None
    ) -> Case:
        ctx = info.context
        request = pb.LinkCaseRequest(id=id, account_id=account_id, requester_id=requester_id or "")
        reply = await ctx.call("cases", ctx.clients.stubs["cases"].LinkCase, request)
        return Case.from_pb(reply, base_url_of(info))

    @strawberry.mutation(description="One vote per user per article; voting again changes it.")
    async def rate_article(self, info: Ctx, id: strawberry.ID, helpful: bool) -> Article:
        ctx = info.context
        request = pb.RateArticleRequest(id=id, helpful=helpful)
        return Article.from_pb(await ctx.call("cases", ctx.clients.stubs["cases"].RateArticle, request))

    @strawberry.mutation(description="SUPPORT_ADMIN: publish an article (a taken slug: a new version of it).")
    async def publish_article(self, info: Ctx, input: PublishArticleInput) -> Article:
        ctx = info.context
        request = pb.PublishArticleRequest(
            slug=input.slug, title=input.title, body=input.body, product=input.product or "", tags=input.tags or []
        )
        return Article.from_pb(await ctx.call("cases", ctx.clients.stubs["cases"].PublishArticle, request))

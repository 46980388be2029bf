"""Cases' root query fields: cases, a case, knowledge search and articles."""

from __future__ import annotations

import strawberry

from gateway.errors import bad_input
from gateway.schema.cases.enums import CaseOrder
from gateway.schema.cases.types import (
    Article,
    ArticleSearchResult,
    Case,
    CaseFilter,
    base_url_of,
    case_connection,
    load_article,
    load_case,
)
from gateway.schema.common import Connection, Ctx, none_if_not_found, page_size
from protos.cases.v1 import cases_pb2 as pb


@strawberry.type
class CasesQuery:
    @strawberry.field(
        description="USER: the cases they opened; MANAGER and ADMIN: their account's; staff: every account's."
    )
    async def cases(
        self,
        info: Ctx,
        filter: CaseFilter | None = None,
        order_by: CaseOrder | None = CaseOrder["UPDATED_DESC"],
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Case]:
        ctx = info.context
        request = pb.ListCasesRequest(
            filter=filter.to_pb() if filter is not None else pb.CaseFilter(),
            order=(order_by or CaseOrder["UPDATED_DESC"]).to_pb(),
            page_size=page_size(first),
            page_token=after or "",
        )
        return case_connection(info, await ctx.call("cases", ctx.clients.stubs["cases"].ListCases, request))

    @strawberry.field(description="By id or by case number; null when there is none the viewer may see.")
    async def case(self, info: Ctx, id: strawberry.ID | None = None, number: str | None = None) -> Case | None:
        if (id is None) == (number is None):
            raise bad_input("give exactly one of id and number")
        if id is not None:
            await info.context.caller()
            return await load_case(info, str(id))
        ctx = info.context
        call = ctx.call(
            "cases", ctx.clients.stubs["cases"].GetCaseByNumber, pb.GetCaseByNumberRequest(number=number or "")
        )
        found = await none_if_not_found(call)
        return Case.from_pb(found, base_url_of(info)) if found is not None else None

    @strawberry.field(
        description="Knowledge articles by relevance to the words (title, tags, body; stemmed), best first; "
        "fast enough to suggest articles while a case subject is typed. No match: an empty list."
    )
    async def knowledge_search(
        self, info: Ctx, query: str, product: str | None = None, first: int | None = 10
    ) -> list[ArticleSearchResult]:
        ctx = info.context
        request = pb.SearchArticlesRequest(query=query, product=product or "", page_size=first or 10)
        reply = await ctx.call("cases", ctx.clients.stubs["cases"].SearchArticles, request)
        return [
            ArticleSearchResult(article=Article.from_pb(h.article), score=h.score, highlight=h.highlight or None)
            for h in reply.hits
        ]

    @strawberry.field(description="By id or by slug; null when there is none.")
    async def article(self, info: Ctx, id: strawberry.ID | None = None, slug: str | None = None) -> Article | None:
        if (id is None) == (slug is None):
            raise bad_input("give exactly one of id and slug")
        if id is not None:
            await info.context.caller()
            return await load_article(info, str(id))
        ctx = info.context
        call = ctx.call("cases", ctx.clients.stubs["cases"].GetArticle, pb.GetArticleRequest(slug=slug or ""))
        found = await none_if_not_found(call)
        return Article.from_pb(found) if found is not None else None

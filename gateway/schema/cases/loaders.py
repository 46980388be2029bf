"""Cases' DataLoaders: one batch RPC per list of keys; they hand back the service's messages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from gateway.context import PortalContext
from gateway.schema.common import batch_loader, by_id
from protos.cases.v1 import cases_pb2 as pb


async def get_cases(ctx: PortalContext, ids: list[str]) -> Sequence[pb.Case]:
    reply = await ctx.call("cases", ctx.clients.stubs["cases"].BatchGetCases, pb.BatchGetCasesRequest(ids=ids))
    return reply.cases


cases = by_id(get_cases)


async def get_articles(ctx: PortalContext, ids: list[str]) -> Sequence[pb.Article]:
    request = pb.BatchGetArticlesRequest(ids=ids)
    return (await ctx.call("cases", ctx.clients.stubs["cases"].BatchGetArticles, request)).articles


articles = by_id(get_articles)

# Case.comments in a list of cases: one BatchListComments call per distinct (page size, after).
CommentsKey = tuple[str, int, str]
EMPTY = pb.CommentPage()


def comments(ctx: PortalContext) -> DataLoader[CommentsKey, pb.CommentPage]:
    async def load(keys: list[CommentsKey]) -> list[pb.CommentPage]:
        groups: dict[tuple[int, str], list[str]] = defaultdict(list)
        for case_id, size, after in keys:
            groups[(size, after)].append(case_id)
        pages: dict[CommentsKey, pb.CommentPage] = {}
        for (size, after), case_ids in groups.items():
            request = pb.BatchListCommentsRequest(case_ids=case_ids, page_size=size, page_token=after)
            reply = await ctx.call("cases", ctx.clients.stubs["cases"].BatchListComments, request)
            for page in reply.pages:
                pages[(page.case_id, size, after)] = page
        return [pages.get(key, EMPTY) for key in keys]

    return batch_loader(load)

"""The knowledge base through the gateway (design.md 3, 9; issue 12): ranked search over the demo
articles, the product filter and highlights, publishing (SUPPORT_ADMIN) searchable at once, articles
by id, slug and node id, and votes: one per user, changeable, counted once."""

from __future__ import annotations

import uuid

import pytest

SEARCH = """query($q: String!, $p: String, $first: Int) { knowledgeSearch(query: $q, product: $p, first: $first) {
  score highlight article { id slug title product tags helpfulCount notHelpfulCount updatedAt } } }"""
ARTICLE = """query($id: ID, $slug: String) { article(id: $id, slug: $slug) {
  id slug title body product tags helpfulCount notHelpfulCount } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Article { slug } } }"
PUBLISH = """mutation($i: PublishArticleInput!) { publishArticle(input: $i) { id slug title product tags
  helpfulCount notHelpfulCount updatedAt } }"""
RATE = "mutation($id: ID!, $h: Boolean!) { rateArticle(id: $id, helpful: $h) { id helpfulCount notHelpfulCount } }"

# written-down queries over the demo corpus, with the article that must come first
RANKED = [
    ("my password reset email never came", "password-reset-email-not-received"),
    ("card declined 05", "card-declined-error-05"),
    ("autopay payment failed", "autopay-payment-failed"),
    ("webhook signature verification", "webhook-signature-invalid"),
    ("report totals mismatch", "report-totals-mismatch"),
    ("refunding", "refund-not-showing"),
]


async def search(gql, token: str, query: str, product: str | None = None, first: int = 5) -> list[dict]:
    return (await gql.ok(SEARCH, {"q": query, "p": product, "first": first}, token=token))["knowledgeSearch"]


@pytest.mark.parametrize(("query", "expected"), RANKED)
async def test_search_puts_the_best_match_first(gql, tokens, query, expected):
    results = await search(gql, await tokens("user@acme.test"), query)
    assert results[0]["article"]["slug"] == expected
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)


async def test_product_filter_highlight_and_no_results(gql, tokens):
    user = await tokens("user@acme.test")
    (only,) = await search(gql, user, "declined", product="Billing")
    assert only["article"]["slug"] == "autopay-payment-failed" and only["article"]["product"] == "Billing"
    assert "<b>declined</b>" in only["highlight"]
    assert await search(gql, user, "qwxzy vvbnm") == []
    assert await search(gql, user, "declined", product="No such product") == []
    assert len(await search(gql, user, "the", first=3)) <= 3
    anonymous = await gql(SEARCH, {"q": "password"})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_publish_is_for_support_admins_and_is_searchable_at_once(gql, tokens):
    root, agent = await tokens("root@support.test"), await tokens("agent@support.test")
    word = f"zebracode{uuid.uuid4().hex[:6]}"
    slug = f"error-{word}"
    article = {"slug": slug, "title": f"Terminal shows {word}", "body": f"The {word} error clears after a reboot."}
    for token in (agent, await tokens("admin@acme.test")):
        denied = await gql(PUBLISH, {"i": article}, token=token)
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    published = (await gql.ok(PUBLISH, {"i": {**article, "product": "Terminals", "tags": ["Reboot"]}}, token=root))[
        "publishArticle"
    ]
    assert (published["slug"], published["product"], published["tags"]) == (slug, "Terminals", ["reboot"])
    (hit,) = await search(gql, agent, word)
    assert hit["article"]["id"] == published["id"] and f"<b>{word}</b>" in hit["highlight"]
    by_slug = (await gql.ok(ARTICLE, {"slug": slug}, token=agent))["article"]
    by_id = (await gql.ok(ARTICLE, {"id": published["id"]}, token=agent))["article"]
    assert by_slug == by_id and by_id["body"] == article["body"]
    assert (await gql.ok(NODE, {"id": published["id"]}, token=agent))["node"]["slug"] == slug
    assert (await gql.ok(ARTICLE, {"slug": "no-such-article"}, token=agent))["article"] is None
    # the same slug again: a new version of the same article, its new words searchable
    newer = {**article, "title": f"Terminal shows {word} after an update"}
    again = (await gql.ok(PUBLISH, {"i": newer}, token=root))["publishArticle"]
    assert again["id"] == published["id"]
    assert (await search(gql, agent, f"{word} update"))[0]["article"]["title"] == newer["title"]
    bad = await gql(PUBLISH, {"i": {**article, "slug": "Has Spaces"}}, token=root)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_votes_are_one_per_user_changeable_and_counted_once(gql, tokens):
    root = await tokens("root@support.test")
    slug = f"votes-{uuid.uuid4().hex[:8]}"
    article = {"slug": slug, "title": "Vote on me", "body": "Was this helpful?"}
    article_id = (await gql.ok(PUBLISH, {"i": article}, token=root))["publishArticle"]["id"]
    user, manager = await tokens("user@acme.test"), await tokens("manager@acme.test")
    for token, helpful in [(user, True), (user, True), (manager, False), (user, False), (manager, False)]:
        counted = (await gql.ok(RATE, {"id": article_id, "h": helpful}, token=token))["rateArticle"]
    assert (counted["helpfulCount"], counted["notHelpfulCount"]) == (0, 2)
    await gql.ok(RATE, {"id": article_id, "h": True}, token=manager)
    seen = (await gql.ok(ARTICLE, {"slug": slug}, token=user))["article"]
    assert (seen["helpfulCount"], seen["notHelpfulCount"]) == (1, 1)
    missing = await gql(RATE, {"id": "art_nope", "h": True}, token=user)
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"

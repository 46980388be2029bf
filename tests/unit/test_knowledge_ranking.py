"""Knowledge search ranking on a fixed corpus (the demo articles, services/cases/articles.py): for each
query written down here, the article a person would want comes first. Also the product filter,
stemming, typing prefixes, highlights, the index rebuilt from the database, and votes."""

from __future__ import annotations

import uuid

import pytest

from portalkit.auth import Caller
from portalkit.errors import Forbidden, InvalidInput
from portalkit.mongo import connect
from services.cases.articles import DEMO_ARTICLES
from services.cases.demo import load_demo_articles
from services.cases.domain import Cases
from services.cases.knowledge import KnowledgeIndex
from services.cases.store import CasesStore

ROOT = Caller("usr_root", "SUPPORT_ADMIN", "", "s")
AGENT = Caller("usr_agent", "AGENT", "", "s")
USER = Caller("usr_user", "USER", "acc_1", "s")
OTHER = Caller("usr_other", "MANAGER", "acc_2", "s")

# query -> the slug that must rank first
EXPECTED_TOP = {
    "resetting my password": "password-reset-email-not-received",
    "reset email did not arrive": "password-reset-email-not-received",
    "locked out after failed logins": "account-locked-after-failed-logins",
    "invitation expired": "invitation-link-expired",
    "card declined error 05": "card-declined-error-05",
    "do not honor": "card-declined-error-05",
    "insufficient funds": "card-declined-insufficient-funds",
    "payment page timed out": "payment-page-timeout",
    "3-D Secure challenge fails": "3d-secure-authentication-failed",
    "refunds not on statement": "refund-not-showing",
    "charged twice": "duplicate-charge",
    "settlement file missing": "settlement-file-missing",
    "download invoice pdf": "invoice-pdf-download",
    "autopay failed": "autopay-payment-failed",
    "set up autopay": "autopay-setup",
    "overdue invoice": "overdue-invoice",
    "usage export email": "usage-export-email",
    "report totals do not match": "report-totals-mismatch",
    "API 401 unauthorized": "api-401-unauthorized",
    "too many requests 429": "api-rate-limit-429",
    "webhook signature": "webhook-signature-invalid",
    "webhooks retried": "webhook-retries",
    "reply to a closed case": "reply-to-closed-case",
    "maintenance notifications": "email-notification-preferences",
}


@pytest.fixture
async def kb() -> Cases:
    store = CasesStore(connect("memory://", f"unit_knowledge_{uuid.uuid4().hex[:8]}"))
    cases = Cases(store)
    await load_demo_articles(cases)
    return cases


async def top(kb: Cases, query: str, product: str = "", first: int = 5) -> list[str]:
    return [article["slug"] for article, _ in await kb.search_articles(USER, query, product, first)]


@pytest.mark.parametrize(("query", "expected"), sorted(EXPECTED_TOP.items()))
async def test_the_best_match_comes_first(kb, query, expected):
    assert (await top(kb, query))[0] == expected


async def test_scores_fall_and_a_better_match_beats_a_partial_one(kb):
    found = await kb.search_articles(USER, "card declined", "", 10)
    scores = [hit.score for _, hit in found]
    assert scores == sorted(scores, reverse=True) and len(found) >= 2
    assert {a["slug"] for a, _ in found[:2]} == {"card-declined-error-05", "card-declined-insufficient-funds"}


async def test_stemming_the_product_filter_prefixes_and_empty_results(kb):
    assert (await top(kb, "refunding"))[0] == "refund-not-showing"  # refunding ~ refunds ~ refund
    assert await top(kb, "declined", product="billing") == ["autopay-payment-failed"]
    assert await top(kb, "declined", product="Nope") == []
    assert await top(kb, "zzqx unknownword") == []
    assert await top(kb, "  ") == []
    assert (await top(kb, "webho"))[0].startswith("webhook")  # still being typed
    assert (await top(kb, 'webhook AND (signature" title:*'))[0] == "webhook-signature-invalid"  # words, no syntax


async def test_the_highlight_marks_the_matches_and_is_escaped(kb):
    ((_article, hit),) = await kb.search_articles(USER, "refund", "", 1)
    assert "<b>Refunds</b>" in hit.highlight and "cardholder&#x27;s" in hit.highlight


async def test_the_index_is_rebuilt_from_the_database_at_start_and_publish_is_searchable_at_once(kb):
    again = Cases(kb.store, index=KnowledgeIndex())
    assert await top(again, "webhook signature") == []
    assert await again.refresh_index() == len(DEMO_ARTICLES)
    assert (await top(again, "webhook signature"))[0] == "webhook-signature-invalid"
    published = await kb.publish_article(
        ROOT,
        {"slug": "ach-return-r01", "title": "ACH return R01", "body": "Insufficient funds.", "product": "Payments"},
    )
    assert (await top(kb, "ACH return"))[0] == "ach-return-r01"
    assert await again.refresh_index() >= 1  # another replica picks it up by polling
    assert (await top(again, "ACH return"))[0] == "ach-return-r01"
    updated = await kb.publish_article(
        ROOT, {"slug": "ach-return-r01", "title": "ACH return code R01", "body": "Bank account lacks funds."}
    )
    assert updated["_id"] == published["_id"] and updated["version"] == 2
    with pytest.raises(Forbidden):
        await kb.publish_article(AGENT, {"slug": "x-y", "title": "x", "body": "y"})
    with pytest.raises(InvalidInput):
        await kb.publish_article(ROOT, {"slug": "Not A Slug", "title": "x", "body": "y"})


async def test_one_vote_per_user_changeable_and_counted_once(kb):
    article = await kb.article(USER, "", "invoice-pdf-download")
    for caller, helpful in [(USER, True), (USER, True), (OTHER, True), (USER, False), (AGENT, False)]:
        article = await kb.rate_article(caller, article["_id"], helpful)
    assert (article["helpful_count"], article["not_helpful_count"]) == (1, 2)
    (found, _), *_ = await kb.search_articles(USER, "download invoice pdf", "", 1)
    assert (found["slug"], found["helpful_count"], found["not_helpful_count"]) == ("invoice-pdf-download", 1, 2)
    replica = Cases(kb.store, index=KnowledgeIndex())
    await replica.refresh_index()
    await kb.rate_article(AGENT, article["_id"], True)  # a vote on this replica reaches the other's search
    await replica.refresh_index()
    (seen, _), *_ = await replica.search_articles(USER, "download invoice pdf", "", 1)
    assert (seen["helpful_count"], seen["not_helpful_count"]) == (2, 1)

"""Demo cases (design.md section 9): cases in every status and every team, with comments, internal
notes and an attachment. Loaded through the domain, as the demo users would make them, so numbers,
ref tags, events and mails are the real ones. Idempotent: nothing is added once any case exists.

The directory is the demo logins themselves (at start there is no request whose token could be
forwarded to identity).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from portalkit.auth import Caller
from services.cases.articles import DEMO_ARTICLES
from services.cases.domain import Cases, Person, Upload, new_article


class Login(Protocol):
    """services.identity.demo.DemoLogin"""

    @property
    def email(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def account_id(self) -> str: ...


class DemoDirectory:
    def __init__(self, logins: Sequence[Login]) -> None:
        self._people = {
            login.user_id: Person(
                login.user_id,
                login.email,
                login.email.split("@")[0].title(),
                login.role,
                True,
                team="CUSTOMER_CARE" if login.role == "AGENT" else "",
                account_id=login.account_id,
                case_updates=True,
            )
            for login in logins
        }

    async def people(self, user_ids: list[str], token: str) -> dict[str, Person]:
        return {i: self._people[i] for i in user_ids if i in self._people}


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
# requester, subject, priority, product, environment, team, status, with an agent?, comments
# (author: "customer" | "agent" | "note", body)
DEMO_CASES: list[tuple[str, str, str, str, str, str, str, bool, list[tuple[str, str]]]] = [
    (
        "user@acme.test",
        "Cannot log in to the payment page",
        "HIGH",
        "Payments",
        "PRODUCTION",
        "CUSTOMER_CARE",
        "NEW",
        False,
        [],
    ),
    (
        "user@acme.test",
        "Card declined with error 05",
        "URGENT",
        "Payments",
        "PRODUCTION",
        "TIER2",
        "OPEN",
        True,
        [("agent", "We are looking into the decline codes."), ("note", "Processor logs show a velocity rule.")],
    ),
    (
        "manager@acme.test",
        "Invoice export misses last week",
        "NORMAL",
        "Billing",
        "UAT",
        "PRODUCT_SUPPORT",
        "PENDING_CUSTOMER",
        True,
        [("agent", "Which date range did you export?")],
    ),
    (
        "admin@acme.test",
        "Quarterly business review",
        "LOW",
        "Account",
        "",
        "CLIENT_SUCCESS",
        "ON_HOLD",
        True,
        [("customer", "Could we move it to next month?"), ("note", "Waiting for the CSM's calendar.")],
    ),
    (
        "manager@acme.test",
        "Report totals do not match",
        "NORMAL",
        "Reporting",
        "PRODUCTION",
        "TIER2",
        "SOLVED",
        True,
        [("agent", "Fixed by the 4.2 release."), ("customer", "Confirmed, thanks!")],
    ),
    (
        "admin@globex.test",
        "Webhook retries flood our endpoint",
        "HIGH",
        "API",
        "PRODUCTION",
        "PRODUCT_SUPPORT",
        "CLOSED",
        True,
        [("agent", "Retries now back off exponentially.")],
    ),
]


async def load_demo(cases: Cases, logins: Sequence[Login]) -> int:
    """Returns how many cases were added. The demo users go into the service's copy of identity's
    users too (identity's demo loader announces no user.activated for them): mail from them is theirs."""
    for login in logins:
        await cases.store.remember_user(login.user_id, login.email, login.account_id, login.role, "", "")
    await load_demo_articles(cases)
    if await cases.store.has_cases():
        return 0
    directory = DemoDirectory(logins)
    demo = Cases(cases.store, cases.clock, directory, cases.mails, cases.secret, cases.index)
    by_email = {login.email: login for login in logins}
    agent = _caller(by_email["agent@support.test"])
    added = 0
    for email, subject, priority, product, environment, team, status, assigned, comments in DEMO_CASES:
        requester = _caller(by_email[email])
        values: dict[str, Any] = {
            "subject": subject,
            "description": f"{subject}. Seen by several of our users since this morning.",
            "priority": priority,
            "product": product,
            "environment": environment or None,
            "error_message": "ERR-05 Do not honor" if "declined" in subject else "",
            "account_numbers": ["4000-1234", "4000-5678"] if product == "Payments" else [],
        }
        uploads = [Upload("screenshot.png", "image/png", PNG)] if added == 0 else []
        case = await demo.create_case(requester, values, uploads=uploads)
        if team != "CUSTOMER_CARE" or assigned:
            await demo.assign(agent, case["_id"], team, agent.user_id if assigned else "")
        for author, body in comments:
            who = requester if author == "customer" else agent
            await demo.add_comment(who, case["_id"], body, internal=author == "note")
        if status != "NEW":
            await demo.set_status(agent, case["_id"], status)
        added += 1
    return added


def _caller(login: Login) -> Caller:
    return Caller(login.user_id, login.role, login.account_id, "demo", "CUSTOMER_CARE" if login.role == "AGENT" else "")


async def load_demo_articles(cases: Cases) -> int:
    """The demo knowledge articles, published once (a slug already there is left as it is)."""
    now = cases.clock.now()
    fresh = []
    for slug, product, title, tags, body in DEMO_ARTICLES:
        if await cases.store.find_article_by_slug(slug) is None:
            fresh.append(article_document(slug, title, body, product, tags, now))
    await cases.load_articles(fresh)
    return len(fresh)


def article_document(slug: str, title: str, body: str, product: str, tags: list[str], now: Any) -> dict[str, Any]:
    fields = {"slug": slug, "title": title, "body": body, "product": product, "tags": tags}
    return new_article(fields, now)

"""Every MongoDB call of the cases service, each a method named for what it does.

Documents:
- cases: {_id: cas_…, number ("00100001"), number_seq (int), ref_tag, account_id ("" until linked),
          requester_id ("" for an unknown sender), requester_email, requester_name, subject, description,
          product, environment, error_message, issue_started_at, account_numbers[], priority,
          priority_rank (LOW=1 … URGENT=4: the priority order), status, team, assignee_id,
          assignee_email, channel, related_case_id, attachments[{_id, filename, content_type, size,
          created_at, comment_id}], comments[{_id, author_id, author_email, body, internal, channel,
          attachments[], created_at}], comment_count, version, created_at, updated_at, closed_at,
          _outbox[]}
  A case is one aggregate: its comments live in it, so a comment, the status move it causes, its
  events and its mails are one single-document write.
- attachments: {_id: att_…, case_id, comment_id, filename, content_type, size, content (bytes), created_at}
- counters: {_id: "case_number", value}: the atomic case-number counter ($inc, never reused).
- accounts: {_id: acc_…, number, name, client_success_manager_id, as_of}: this service's copy of
  identity's accounts (account.updated), for routing to the Client Success Manager.
- users: {_id: usr_…, active, as_of, email, account_id, role, role_as_of}: this service's copy of
  identity's users from user.activated / user.deactivated / user.role_changed: requester state, and
  who a mail's sender is (email-to-case has no token to read identity with).
- articles: {_id: art_…, slug (unique), title, body, product, tags[], helpful_count, not_helpful_count,
             votes {usr_…: true|false} (one vote per user, changeable), version, created_at, updated_at
             (content), changed_at (content or counts: what the search index polls by)}
- inbound: {_id: Message-ID, received_at}: a mail taken in once (a second delivery finds it here).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from portalkit.mongo import Document, TracedCollection
from portalkit.outbox import AggregateCollection, Outgoing
from portalkit.pagination import ASC, DESC, Ordering, Page, fetch_page
from services.cases.rules import Scope

ORDERINGS = {
    "UPDATED_DESC": Ordering("updated_desc", (("updated_at", DESC),)),
    "CREATED_DESC": Ordering("created_desc", (("created_at", DESC),)),
    "CREATED_ASC": Ordering("created_asc", (("created_at", ASC),)),
    "PRIORITY_DESC": Ordering("priority_desc", (("priority_rank", DESC), ("created_at", DESC))),
    "NUMBER_DESC": Ordering("number_desc", (("number_seq", DESC),)),
}
SEARCHED = ("number", "subject", "description", "error_message", "requester_email", "product")
WITHOUT_COMMENTS = {"comments": 0, "_outbox": 0, "applied_events": 0}
COUNTER = "case_number"


def _contains(text: str) -> dict[str, Any]:
    return {"$regex": re.escape(text), "$options": "i"}


class CasesStore:
    def __init__(self, db: Any) -> None:
        self.cases = AggregateCollection(db, "cases")
        self.accounts = AggregateCollection(db, "accounts")
        self.users = AggregateCollection(db, "users")
        self.attachments = TracedCollection(db, "attachments")
        self.counters = TracedCollection(db, "counters")
        self.inbound = TracedCollection(db, "inbound")
        self.articles = TracedCollection(db, "articles")

    @property
    def aggregates(self) -> list[AggregateCollection]:
        return [self.cases]

    async def ensure_indexes(self) -> None:
        # unique by construction (the counter); indexed for case(number)
        await self.cases.ensure_index([("number", 1)])
        for field, direction in (("updated_at", -1), ("created_at", -1), ("number_seq", -1)):
            await self.cases.ensure_index([("account_id", 1), (field, direction), ("_id", direction)])
            await self.cases.ensure_index([(field, direction), ("_id", direction)])
        await self.cases.ensure_index([("account_id", 1), ("priority_rank", -1), ("created_at", -1), ("_id", -1)])
        await self.cases.ensure_index([("requester_id", 1), ("updated_at", -1), ("_id", -1)])
        await self.cases.ensure_index([("assignee_id", 1), ("status", 1)])
        await self.attachments.ensure_index([("case_id", 1)])
        await self.users.ensure_index([("email", 1)])
        await self.articles.ensure_index([("slug", 1)], unique=True)
        await self.articles.ensure_index([("changed_at", 1), ("_id", 1)])

    # reads ------------------------------------------------------------------------------------
    async def get_cases(self, ids: list[str]) -> list[Document]:
        """Cases without their comments (a list shows none)."""
        return await self.cases.find_many({"_id": {"$in": ids}}, projection=WITHOUT_COMMENTS)

    async def get_case(self, case_id: str) -> Document | None:
        return await self.cases.find_one({"_id": case_id})

    async def find_by_number(self, number: str) -> Document | None:
        return await self.cases.find_one({"number": number}, WITHOUT_COMMENTS)

    async def get_comment_threads(self, case_ids: list[str]) -> list[Document]:
        """The cases with their comments, and what deciding who reads them needs."""
        projection = {"comments": 1, "account_id": 1, "requester_id": 1}
        return await self.cases.find_many({"_id": {"$in": case_ids}}, projection=projection)

    async def list_cases(self, scope: Scope, filters: dict[str, Any], order: str, size: int, token: str) -> Page:
        query: dict[str, Any] = {}
        if scope.account_id:
            query["account_id"] = scope.account_id
        if scope.requester_id:
            query["requester_id"] = scope.requester_id
        if filters.get("status"):
            query["status"] = {"$in": list(filters["status"])}
        for field in ("team", "priority", "assignee_id", "requester_id", "account_id"):
            if filters.get(field):
                if field in query and query[field] != filters[field]:
                    query["_id"] = {"$in": []}  # outside the caller's scope: nothing
                else:
                    query[field] = filters[field]
        created: dict[str, datetime] = {}
        if filters.get("created_after"):
            created["$gte"] = filters["created_after"]
        if filters.get("created_before"):
            created["$lt"] = filters["created_before"]
        if created:
            query["created_at"] = created
        if filters.get("unlinked"):
            query["account_id"] = ""
        if filters.get("search"):
            query["$or"] = [{field: _contains(filters["search"])} for field in SEARCHED]
        return await fetch_page(self.cases, query, size, token, ORDERINGS[order])

    async def has_cases(self) -> bool:
        return await self.cases.find_one({}, {"_id": 1}) is not None

    async def get_attachment(self, attachment_id: str) -> Document | None:
        return await self.attachments.find_one({"_id": attachment_id})

    async def client_success_manager(self, account_id: str) -> str:
        """The account's Client Success Manager as last heard from identity ("" = none)."""
        account = await self.accounts.find_one({"_id": account_id})
        return str((account or {}).get("client_success_manager_id") or "")

    async def account_known(self, account_id: str) -> bool:
        """The account was heard of from identity (account.updated)."""
        return await self.accounts.find_one({"_id": account_id}, {"_id": 1}) is not None

    async def user_active(self, user_id: str) -> bool:
        """False once identity said the user was deactivated (and not activated since)."""
        user = await self.users.find_one({"_id": user_id})
        return user is None or bool(user["active"])

    async def active_user_by_email(self, email: str) -> Document | None:
        """An active portal user with this address, as last heard from identity (None = not one)."""
        return await self.users.find_one({"email": email.lower(), "active": True})

    # writes -----------------------------------------------------------------------------------
    async def claim_inbound(self, message_id: str, now: datetime) -> bool:
        """Mark a mail as taken in; False when it was taken in before (the same Message-ID)."""
        try:
            await self.inbound.insert_one({"_id": message_id, "received_at": now})
        except DuplicateKeyError:
            return False
        return True

    async def release_inbound(self, message_id: str) -> None:
        """A mail that could not be taken in: the sender's server will try again."""
        await self.inbound.delete_one({"_id": message_id})

    async def next_case_sequence(self) -> int:
        """The next value of the atomic counter: one findAndModify, so concurrent creations get
        distinct, increasing numbers and a number is never handed out twice."""
        for _ in range(3):
            try:
                counter = await self.counters.find_one_and_update({"_id": COUNTER}, {"$inc": {"value": 1}}, upsert=True)
                assert counter is not None
                return int(counter["value"])
            except DuplicateKeyError:  # two first-ever upserts raced: the other one created it
                continue
        raise RuntimeError("case-number counter unavailable")

    async def insert_attachments(self, attachments: list[Document]) -> None:
        for attachment in attachments:
            await self.attachments.insert_one(attachment)

    async def insert_case(self, case: Document, outgoing: Outgoing) -> None:
        await self.cases.insert(case, outgoing)

    async def change_case(
        self,
        case_id: str,
        version: int,
        changes: Document,
        outgoing: Outgoing,
        *,
        comment: Document | None = None,
        attachments: list[Document] | None = None,
    ) -> Document | None:
        """Apply `changes` (and append a comment, attachments) if the case is still at `version`
        (no lost update); the events and mails go in the same write. None when it moved meanwhile."""
        update: dict[str, Any] = {"$set": {**changes, "version": version + 1}}
        push: dict[str, Any] = {}
        if comment is not None:
            push["comments"] = comment
            update["$inc"] = {"comment_count": 1}
        if attachments:
            push["attachments"] = {"$each": attachments}
        if push:
            update["$push"] = push
        return await self.cases.change({"_id": case_id, "version": version}, update, outgoing)

    async def remember_account(
        self, account_id: str, number: str, name: str, manager_id: str, event_time: str, event_id: str
    ) -> None:
        """Keep the newest account state heard (an older event arriving late changes nothing)."""
        values = {"number": number, "name": name, "client_success_manager_id": manager_id, "as_of": event_time}
        saved = await self.accounts.change(
            {"_id": account_id, "as_of": {"$lt": event_time}}, {"$set": values}, event_id=event_id
        )
        if saved is None and await self.accounts.find_one({"_id": account_id}) is None:
            try:
                await self.accounts.insert({"_id": account_id, **values}, event_id=event_id)
            except DuplicateKeyError:
                await self.remember_account(account_id, number, name, manager_id, event_time, event_id)

    async def remember_user_state(self, user_id: str, active: bool, event_time: str, event_id: str) -> None:
        values = {"active": active, "as_of": event_time}
        saved = await self.users.change(
            {"_id": user_id, "as_of": {"$lt": event_time}}, {"$set": values}, event_id=event_id
        )
        if saved is None and await self.users.find_one({"_id": user_id}) is None:
            try:
                await self.users.insert({"_id": user_id, **values}, event_id=event_id)
            except DuplicateKeyError:
                await self.remember_user_state(user_id, active, event_time, event_id)

    async def remember_user(
        self, user_id: str, email: str, account_id: str, role: str, event_time: str, event_id: str
    ) -> None:
        """user.activated: who the user is, and that they are active (newest state wins)."""
        who = {"email": email.lower(), "account_id": account_id}
        values = {**who, "active": True, "as_of": event_time, "role": role, "role_as_of": event_time}
        saved = await self.users.change(
            {"_id": user_id, "as_of": {"$lt": event_time}}, {"$set": values}, event_id=event_id
        )
        if saved is not None:
            return
        if await self.users.find_one({"_id": user_id}) is None:
            try:
                await self.users.insert({"_id": user_id, **values}, event_id=event_id)
            except DuplicateKeyError:
                await self.remember_user(user_id, email, account_id, role, event_time, event_id)
        else:  # a newer state is known: keep it, but learn the address
            await self.users.update_one({"_id": user_id}, {"$set": who})

    async def remember_role(self, user_id: str, role: str, event_time: str, event_id: str) -> None:
        await self.users.change(
            {"_id": user_id, "role_as_of": {"$lt": event_time}},
            {"$set": {"role": role, "role_as_of": event_time}},
            event_id=event_id,
        )

    async def link_case(self, case_id: str, version: int, changes: Document, outgoing: Outgoing) -> Document | None:
        """Attach a case mailed in by an unknown sender to an account, if still unlinked."""
        update = {"$set": {**changes, "version": version + 1}}
        return await self.cases.change({"_id": case_id, "version": version, "account_id": ""}, update, outgoing)

    # knowledge articles -----------------------------------------------------------------------
    async def get_articles(self, ids: list[str]) -> list[Document]:
        return await self.articles.find_many({"_id": {"$in": ids}}, projection={"votes": 0})

    async def get_article(self, article_id: str) -> Document | None:
        return await self.articles.find_one({"_id": article_id})

    async def find_article_by_slug(self, slug: str) -> Document | None:
        return await self.articles.find_one({"slug": slug}, {"votes": 0})

    async def articles_changed_since(self, since: datetime | None, limit: int = 1000) -> list[Document]:
        """Articles changed after `since` (all with None), oldest change first, without votes."""
        query: dict[str, Any] = {"changed_at": {"$gt": since}} if since is not None else {}
        return await self.articles.find_many(
            query, projection={"votes": 0}, sort=[("changed_at", 1), ("_id", 1)], limit=limit
        )

    async def publish_article(self, article: Document) -> Document:
        """Insert the article, or replace the content of the one with its slug (votes are kept)."""
        content = {k: article[k] for k in ("title", "body", "product", "tags", "updated_at", "changed_at")}
        saved = await self.articles.find_one_and_update(
            {"slug": article["slug"]}, {"$set": content, "$inc": {"version": 1}}
        )
        if saved is not None:
            return saved
        try:
            await self.articles.insert_one(article)
        except DuplicateKeyError:  # published at the same moment by another call: update that one
            return await self.publish_article(article)
        return article

    async def insert_articles(self, articles: list[Document]) -> None:
        for article in articles:
            await self.articles.insert_one(article)

    async def set_vote(
        self, article_id: str, version: int, user_id: str, helpful: bool, counts: dict[str, int], now: datetime
    ) -> Document | None:
        """The user's vote, and the counts it changes, if the article is still at `version`."""
        values = {f"votes.{user_id}": helpful, "version": version + 1, "changed_at": now}
        update = {"$set": values, "$inc": counts}
        return await self.articles.find_one_and_update({"_id": article_id, "version": version}, update)

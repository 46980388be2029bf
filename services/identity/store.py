"""Every MongoDB call of the identity service. Domain code decides; this module reads and writes.

Documents:
- accounts:      {_id: acc_…, number, name, name_lower, created_at}
- users:         {_id: usr_…, email, name, role, status, team, account_id, contact_id, password_hash,
                  invitation{id,status,token_hash,voided_token_hashes,sent_at,expires_at,resend_count},
                  password_reset{token_hash, expires_at}, email_preferences{…}, created_at,
                  last_login_at, applied_events[], _outbox[]}
- sessions:      {_id: ses_… (the token `sid`), user_id, token_hash, previous_token_hashes[],
                  created_at, expires_at, revoked_at}  (one document per login; rotation swaps the hash)
- throttle:      {_id: "email:<sha256>" | "client:<addr>", failures, window_started_at, locked_until}
- announcements: {_id: ann_…, kind, title, body, starts_at, ends_at, published_at, _outbox[]}
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from portalkit.errors import Conflict
from portalkit.mongo import Document, TracedCollection
from portalkit.outbox import push_entries
from portalkit.pagination import fetch_page

Entries = list[dict[str, Any]]


class IdentityStore:
    def __init__(self, db: Any) -> None:
        self.accounts = TracedCollection(db, "accounts")
        self.users = TracedCollection(db, "users")
        self.sessions = TracedCollection(db, "sessions")
        self.throttle = TracedCollection(db, "throttle")
        self.announcements = TracedCollection(db, "announcements")

    @property
    def outbox_collections(self) -> list[TracedCollection]:
        return [self.users, self.announcements, self.accounts]

    async def ensure_indexes(self) -> None:
        await self.accounts.ensure_index([("number", 1)], unique=True)
        await self.users.ensure_index([("email", 1)], unique=True)
        await self.users.ensure_index([("account_id", 1), ("role", 1), ("status", 1)])
        await self.users.ensure_index([("invitation.token_hash", 1)])
        await self.users.ensure_index([("password_reset.token_hash", 1)])
        await self.users.ensure_index([("contact_id", 1)])
        await self.sessions.ensure_index([("token_hash", 1)], unique=True)
        await self.sessions.ensure_index([("previous_token_hashes", 1)])
        await self.sessions.ensure_index([("user_id", 1)])

    # accounts ---------------------------------------------------------------------------------
    async def insert_account(self, account: Document) -> None:
        try:
            await self.accounts.insert_one(account)
        except DuplicateKeyError as exc:
            raise Conflict(f"account number {account['number']} is taken") from exc

    async def delete_account(self, account_id: str) -> None:
        await self.accounts.delete_one({"_id": account_id})

    async def get_account(self, account_id: str) -> Document | None:
        return await self.accounts.find_one({"_id": account_id})

    async def get_accounts(self, ids: list[str]) -> list[Document]:
        return await self.accounts.find_many({"_id": {"$in": ids}})

    async def list_accounts(self, search: str, size: int, token: str) -> tuple[list[Document], str, int]:
        query: dict[str, Any] = {}
        if search:
            pattern = re.escape(search.lower())
            query = {"$or": [{"name_lower": {"$regex": pattern}}, {"number_lower": {"$regex": pattern}}]}
        return await fetch_page(self.accounts, query, size, token)

    # users ------------------------------------------------------------------------------------
    async def insert_user(self, user: Document) -> None:
        try:
            await self.users.insert_one(user)
        except DuplicateKeyError as exc:
            raise Conflict(f"{user['email']} already has a user", reason="EMAIL_TAKEN") from exc

    async def get_user(self, user_id: str) -> Document | None:
        return await self.users.find_one({"_id": user_id})

    async def get_users(self, ids: list[str]) -> list[Document]:
        return await self.users.find_many({"_id": {"$in": ids}})

    async def find_user_by_email(self, email: str) -> Document | None:
        return await self.users.find_one({"email": email})

    async def find_user_by_contact(self, contact_id: str) -> Document | None:
        return await self.users.find_one({"contact_id": contact_id})

    async def find_user_by_invitation(self, token_hash: str) -> Document | None:
        return await self.users.find_one(
            {"$or": [{"invitation.token_hash": token_hash}, {"invitation.voided_token_hashes": token_hash}]}
        )

    async def find_user_by_reset_token(self, token_hash: str) -> Document | None:
        return await self.users.find_one({"password_reset.token_hash": token_hash})

    async def list_users(self, query: dict[str, Any], size: int, token: str) -> tuple[list[Document], str, int]:
        return await fetch_page(self.users, query, size, token)

    async def find_users(self, query: dict[str, Any], limit: int = 0) -> list[Document]:
        return await self.users.find_many(query, sort=[("_id", 1)], limit=limit)

    async def count_users(self, query: dict[str, Any]) -> int:
        return await self.users.count(query)

    async def update_user(
        self,
        condition: dict[str, Any],
        changes: dict[str, Any],
        outbox: Entries = (),  # type: ignore[assignment]
        *,
        unset: list[str] = (),  # type: ignore[assignment]
        event_id: str = "",
        extra: dict[str, Any] | None = None,
    ) -> Document | None:
        """Apply `changes` to the one user matching `condition` and append `outbox` in the same
        atomic update. With `event_id`, the update happens only once per event (redelivery no-op).
        Returns the user after the update, or None when nothing matched."""
        update: dict[str, Any] = {}
        if changes:
            update["$set"] = changes
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")
        push: dict[str, Any] = {}
        if outbox:
            push.update(push_entries(list(outbox)))
        if event_id:
            condition = {**condition, "applied_events": {"$ne": event_id}}
            push["applied_events"] = {"$each": [event_id], "$slice": -200}
        if push:
            update["$push"] = push
        if extra:
            update.update(extra)
        if not update:
            return await self.users.find_one(condition)
        return await self.users.find_one_and_update(condition, update)

    # sessions ---------------------------------------------------------------------------------
    async def insert_session(self, session: Document) -> None:
        await self.sessions.insert_one(session)

    async def rotate_session(self, token_hash: str, new_hash: str, now: datetime) -> Document | None:
        return await self.sessions.find_one_and_update(
            {"token_hash": token_hash, "revoked_at": None, "expires_at": {"$gt": now}},
            {
                "$set": {"token_hash": new_hash, "rotated_at": now},
                "$push": {"previous_token_hashes": token_hash},
            },
        )

    async def find_session_by_old_token(self, token_hash: str) -> Document | None:
        return await self.sessions.find_one({"previous_token_hashes": token_hash})

    async def find_session_by_token(self, token_hash: str) -> Document | None:
        return await self.sessions.find_one({"token_hash": token_hash})

    async def get_session(self, session_id: str) -> Document | None:
        return await self.sessions.find_one({"_id": session_id})

    async def revoke_session(self, session_id: str, now: datetime) -> bool:
        return bool(
            await self.sessions.update_one({"_id": session_id, "revoked_at": None}, {"$set": {"revoked_at": now}})
        )

    async def revoke_user_sessions(self, user_id: str, now: datetime, keep: str = "") -> int:
        query: dict[str, Any] = {"user_id": user_id, "revoked_at": None}
        if keep:
            query["_id"] = {"$ne": keep}
        return await self.sessions.update_many(query, {"$set": {"revoked_at": now}})

    # login throttling -------------------------------------------------------------------------
    async def get_throttle(self, keys: list[str]) -> list[Document]:
        return await self.throttle.find_many({"_id": {"$in": keys}})

    async def set_throttle(self, key: str, state: dict[str, Any]) -> None:
        await self.throttle.update_one({"_id": key}, {"$set": state}, upsert=True)

    async def increment_throttle(self, key: str, window_start_before: datetime, now: datetime) -> Document:
        """Count one failure in the current window (starting a new window when the old one ended)."""
        doc = await self.throttle.find_one_and_update(
            {"_id": key, "window_started_at": {"$gt": window_start_before}}, {"$inc": {"failures": 1}}
        )
        if doc is None:
            doc = await self.throttle.find_one_and_update(
                {"_id": key},
                {"$set": {"failures": 1, "window_started_at": now, "locked_until": None}},
                upsert=True,
            )
        assert doc is not None
        return doc

    async def clear_throttle(self, key: str) -> None:
        await self.throttle.delete_one({"_id": key})

    # announcements ----------------------------------------------------------------------------
    async def insert_announcement(self, announcement: Document) -> None:
        await self.announcements.insert_one(announcement)

    async def list_announcements(self, query: dict[str, Any]) -> list[Document]:
        return await self.announcements.find_many(query, sort=[("starts_at", -1)], limit=100)

    async def get_announcements(self, ids: list[str]) -> list[Document]:
        return await self.announcements.find_many({"_id": {"$in": ids}})

"""Every MongoDB call of the identity service, each a method named for what it does. The domain
decides; this module reads and writes (and is the only place that knows the documents' shape).

Documents:
- accounts:      {_id: acc_…, number, number_lower, name, name_lower, portal_enabled (absent = on),
                  active_admin_ids[] (its ACTIVE ADMIN users: the last-admin guard), created_at, _outbox[]}
- users:         {_id: usr_…, email, name, role, status, team, account_id, contact_id, password_hash
                  (argon2id; or, until the first login, the hash imported from a previous portal,
                  then `imported_password{scheme, imported_at}` says so),
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

from portalkit.auth import STAFF_ROLES
from portalkit.errors import Conflict
from portalkit.mongo import Document, TracedCollection
from portalkit.outbox import AggregateCollection, Outgoing
from portalkit.pagination import Page, fetch_page

STAFF = sorted(STAFF_ROLES)
ADMIN_SET = "active_admin_ids"
RELEASED, LAST_ADMIN, NOT_LISTED = "RELEASED", "LAST_ADMIN", "NOT_LISTED"


class IdentityStore:
    def __init__(self, db: Any) -> None:
        self.accounts = AggregateCollection(db, "accounts")
        self.users = AggregateCollection(db, "users")
        self.announcements = AggregateCollection(db, "announcements")
        self.sessions = TracedCollection(db, "sessions")
        self.throttle = TracedCollection(db, "throttle")

    @property
    def aggregates(self) -> list[AggregateCollection]:
        return [self.users, self.announcements, self.accounts]

    async def ensure_indexes(self) -> None:
        """Indexes, and the accounts' active-admin sets where an account predates them."""
        await self.accounts.ensure_index([("number", 1)], unique=True)
        await self.users.ensure_index([("email", 1)], unique=True)
        await self.users.ensure_index([("account_id", 1), ("role", 1), ("status", 1)])
        await self.users.ensure_index([("invitation.token_hash", 1)])
        await self.users.ensure_index([("password_reset.token_hash", 1)])
        await self.users.ensure_index([("contact_id", 1)])
        await self.sessions.ensure_index([("token_hash", 1)], unique=True)
        await self.sessions.ensure_index([("previous_token_hashes", 1)])
        await self.sessions.ensure_index([("user_id", 1)])
        for account in await self.accounts.find_many({ADMIN_SET: {"$exists": False}}, projection={"_id": 1}):
            await self.backfill_active_admins(account["_id"])

    # accounts ---------------------------------------------------------------------------------
    async def insert_account(self, account: Document, outgoing: Outgoing = ()) -> None:
        try:
            await self.accounts.insert({ADMIN_SET: [], **account}, outgoing)
        except DuplicateKeyError as exc:
            raise Conflict(f"account number {account['number']} is taken") from exc

    async def delete_account(self, account_id: str) -> None:
        await self.accounts.delete_one({"_id": account_id})

    async def switch_portal(self, account_id: str, enabled: bool, outgoing: Outgoing) -> Document | None:
        """Set the provider's portal switch only if it flips (absent counts as on), so a repeated
        or concurrent call matches nothing and publishes nothing."""
        current: Document = {"portal_enabled": False} if enabled else {"portal_enabled": {"$ne": False}}
        return await self.accounts.change(
            {"_id": account_id, **current}, {"$set": {"portal_enabled": enabled}}, outgoing
        )

    async def assign_client_success_manager(
        self, account_id: str, manager_id: str, previous: str, outgoing: Outgoing
    ) -> Document | None:
        """Only if the manager is still `previous` (a concurrent assignment wins, not both)."""
        current: Document = (
            {"client_success_manager_id": previous} if previous else {"client_success_manager_id": {"$in": [None, ""]}}
        )
        return await self.accounts.change(
            {"_id": account_id, **current}, {"$set": {"client_success_manager_id": manager_id}}, outgoing
        )

    # accounts: the active-admin set ------------------------------------------------------------
    # Additions come after the user's write and removals before it, so a crash in between leaves the
    # set short (a demotion refused) and never long (the last admin let go).
    async def backfill_active_admins(self, account_id: str) -> None:
        """Give an account that predates the set its set, counted from its users (only if still absent)."""
        admins = await self.users.find_many(
            {"account_id": account_id, "role": "ADMIN", "status": "ACTIVE"}, projection={"_id": 1}
        )
        await self.accounts.update_one(
            {"_id": account_id, ADMIN_SET: {"$exists": False}}, {"$set": {ADMIN_SET: [a["_id"] for a in admins]}}
        )

    async def add_active_admin(self, account_id: str, user_id: str) -> None:
        """After the user's write made them an ACTIVE ADMIN (an account without a set is left to the
        backfill, which counts them)."""
        await self.accounts.update_one(
            {"_id": account_id, ADMIN_SET: {"$exists": True}}, {"$addToSet": {ADMIN_SET: user_id}}
        )

    async def remove_active_admin(self, account_id: str, user_id: str) -> None:
        """Unconditionally, before a write that ends the user's standing (a consumer's deactivation)."""
        await self.accounts.update_one({"_id": account_id}, {"$pull": {ADMIN_SET: user_id}})

    async def release_admin(self, account_id: str, user_id: str) -> str:
        """The last-admin guard, one conditional write: take `user_id` off the account's active admins
        only while another one stays. Two concurrent demotions of the last two admins cannot both
        match. Returns RELEASED, LAST_ADMIN or NOT_LISTED (someone else took them off meanwhile)."""
        for _ in range(2):
            released = await self.accounts.update_one(
                {"_id": account_id, ADMIN_SET: user_id, f"{ADMIN_SET}.1": {"$exists": True}},
                {"$pull": {ADMIN_SET: user_id}},
            )
            if released:
                return RELEASED
            account = await self.accounts.find_one({"_id": account_id}, projection={ADMIN_SET: 1})
            if account is None or ADMIN_SET in account:
                break
            await self.backfill_active_admins(account_id)
        listed = account is not None and user_id in account.get(ADMIN_SET, [])
        return LAST_ADMIN if listed else NOT_LISTED

    async def get_account(self, account_id: str) -> Document | None:
        return await self.accounts.find_one({"_id": account_id})

    async def get_accounts(self, ids: list[str]) -> list[Document]:
        return await self.accounts.find_many({"_id": {"$in": ids}})

    async def find_account_by_number(self, number: str) -> Document | None:
        return await self.accounts.find_one({"number": number})

    async def list_accounts(self, search: str, size: int, token: str) -> Page:
        query: dict[str, Any] = {}
        if search:
            pattern = re.escape(search.lower())
            query = {"$or": [{"name_lower": {"$regex": pattern}}, {"number_lower": {"$regex": pattern}}]}
        return await fetch_page(self.accounts, query, size, token)

    # users: reads -----------------------------------------------------------------------------
    async def insert_user(self, user: Document, outgoing: Outgoing = (), *, event_id: str = "") -> None:
        try:
            await self.users.insert(user, outgoing, event_id=event_id)
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

    async def list_users(self, *, account_id: str, staff: bool, status: str, role: str, size: int, token: str) -> Page:
        """A page of an account's users (`account_id`), of staff users (`staff`), or of everyone."""
        query: dict[str, Any] = {}
        if staff:
            query["role"] = {"$in": STAFF}
        elif account_id:
            query["account_id"] = account_id
        if status:
            query["status"] = status
        if role:
            query["role"] = role if not staff or role in STAFF_ROLES else {"$in": []}
        return await fetch_page(self.users, query, size, token)

    async def active_admins_of(self, account_ids: list[str], per_account: int) -> list[Document]:
        """At most `per_account` active ADMINs of each account, oldest first."""
        found: list[Document] = []
        for account_id in account_ids:
            found += await self.users.find_many(
                {"account_id": account_id, "role": "ADMIN", "status": "ACTIVE"}, sort=[("_id", 1)], limit=per_account
            )
        return found

    async def active_users_opted_in(self, preference: str) -> list[Document]:
        return await self.users.find_many(
            {"status": "ACTIVE", f"email_preferences.{preference}": True}, sort=[("_id", 1)]
        )

    # users: changes (each one conditional write; None when the user changed meanwhile) -------
    async def record_login(
        self, user_id: str, now: datetime, new_password_hash: str = "", replaces: str = ""
    ) -> Document | None:
        """The login time; with `new_password_hash`, the rehash replacing `replaces` (an imported or
        older hash), only if that is still the stored hash (a password changed meanwhile wins), and
        the mark of an imported password goes with it."""
        if new_password_hash:
            rehashed = await self.users.change(
                {"_id": user_id, "password_hash": replaces},
                {
                    "$set": {"last_login_at": now, "password_hash": new_password_hash},
                    "$unset": {"imported_password": ""},
                },
            )
            if rehashed is not None:
                return rehashed
        return await self.users.change({"_id": user_id}, {"$set": {"last_login_at": now}})

    async def change_role(
        self, user_id: str, status: str, old_role: str, new_role: str, outgoing: Outgoing
    ) -> Document | None:
        """Only while the user still has the role and the status the decision was made on."""
        return await self.users.change(
            {"_id": user_id, "status": status, "role": old_role}, {"$set": {"role": new_role}}, outgoing
        )

    async def deactivate_user(
        self,
        user_id: str,
        status: str,
        revoke_invitation: bool,
        outgoing: Outgoing,
        *,
        role: str = "",
        event_id: str = "",
    ) -> Document | None:
        """INACTIVE from `status` (and `role`, when given); the pending invitation revoked and any
        reset link voided."""
        changes: Document = {"status": "INACTIVE"}
        if revoke_invitation:
            changes["invitation.status"] = "REVOKED"
        match: Document = {"_id": user_id, "status": status}
        if role:
            match["role"] = role
        return await self.users.change(
            match,
            {"$set": changes, "$unset": {"password_reset": ""}},
            outgoing,
            event_id=event_id,
        )

    async def reactivate_user(self, user_id: str, outgoing: Outgoing, *, event_id: str = "") -> Document | None:
        return await self.users.change(
            {"_id": user_id, "status": "INACTIVE"}, {"$set": {"status": "ACTIVE"}}, outgoing, event_id=event_id
        )

    async def replace_invitation(
        self, user_id: str, invitation: Document, outgoing: Outgoing, *, event_id: str = ""
    ) -> Document | None:
        """A fresh invitation for a user who has not accepted (INVITED) or was deactivated."""
        return await self.users.change(
            {"_id": user_id, "status": {"$in": ["INVITED", "INACTIVE"]}},
            {"$set": {"invitation": invitation, "status": "INVITED"}},
            outgoing,
            event_id=event_id,
        )

    async def accept_invitation(
        self, user_id: str, token_hash: str, now: datetime, changes: Document, outgoing: Outgoing
    ) -> Document | None:
        """Only while that very invitation is pending and unexpired."""
        return await self.users.change(
            {
                "_id": user_id,
                "status": "INVITED",
                "invitation.token_hash": token_hash,
                "invitation.status": "PENDING",
                "invitation.expires_at": {"$gt": now},
            },
            {"$set": {**changes, "status": "ACTIVE", "invitation.status": "ACCEPTED", "last_login_at": now}},
            outgoing,
        )

    async def set_password_reset(
        self, user_id: str, token_hash: str, expires_at: datetime, outgoing: Outgoing
    ) -> Document | None:
        return await self.users.change(
            {"_id": user_id, "status": "ACTIVE"},
            {"$set": {"password_reset": {"token_hash": token_hash, "expires_at": expires_at}}},
            outgoing,
        )

    async def use_password_reset(self, user_id: str, token_hash: str, password_hash: str) -> Document | None:
        return await self.users.change(
            {"_id": user_id, "status": "ACTIVE", "password_reset.token_hash": token_hash},
            {"$set": {"password_hash": password_hash}, "$unset": {"password_reset": "", "imported_password": ""}},
        )

    async def set_password(self, user_id: str, password_hash: str) -> Document | None:
        return await self.users.change(
            {"_id": user_id}, {"$set": {"password_hash": password_hash}, "$unset": {"imported_password": ""}}
        )

    async def set_email_preferences(self, user_id: str, changes: dict[str, bool]) -> Document | None:
        return await self.users.change(
            {"_id": user_id}, {"$set": {f"email_preferences.{k}": bool(v) for k, v in changes.items()}}
        )

    async def link_contact(
        self, user_id: str, status: str, contact_id: str, outgoing: Outgoing = (), *, event_id: str = ""
    ) -> Document | None:
        """Link the user (still in `status`) to a contact, announcing it in the same write."""
        return await self.users.change(
            {"_id": user_id, "status": status}, {"$set": {"contact_id": contact_id}}, outgoing, event_id=event_id
        )

    async def queue_mail_once(self, user_id: str, outgoing: Outgoing, event_id: str) -> bool:
        """Queue mail in the user's outbox, once per event."""
        return await self.users.change({"_id": user_id}, {}, outgoing, event_id=event_id) is not None

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

    async def lock_throttle(self, key: str, until: datetime) -> None:
        await self.throttle.update_one({"_id": key}, {"$set": {"locked_until": until}}, upsert=True)

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

    async def uncount_attempt(self, key: str) -> None:
        await self.throttle.update_one({"_id": key, "failures": {"$gt": 0}}, {"$inc": {"failures": -1}})

    async def clear_throttle(self, key: str) -> None:
        await self.throttle.delete_one({"_id": key})

    # announcements ----------------------------------------------------------------------------
    async def insert_announcement(self, announcement: Document, outgoing: Outgoing) -> None:
        await self.announcements.insert(announcement, outgoing)

    async def list_announcements(self, active_at: datetime | None) -> list[Document]:
        """Newest first; with `active_at`, only those not ended by then."""
        query: dict[str, Any] = {}
        if active_at is not None:
            query = {"$or": [{"ends_at": None}, {"ends_at": {"$gt": active_at}}]}
        return await self.announcements.find_many(query, sort=[("starts_at", -1)], limit=100)

    async def get_announcements(self, ids: list[str]) -> list[Document]:
        return await self.announcements.find_many({"_id": {"$in": ids}})

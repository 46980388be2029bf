"""Identity operations: the rules of rules.py applied to the store, with events in the same write.

Callable without a gRPC server: unit tests build an `Identity` on an in-memory database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portalkit.access import can_read_account, require_account_read, require_staff, require_support_admin
from portalkit.auth import Caller, TokenIssuer, hash_secret
from portalkit.batch import MAX_BATCH, batch_get
from portalkit.catalog import AnnouncementPublished, ContactDeleted, ContactPortalAccessChanged, Event
from portalkit.clock import Clock, as_utc
from portalkit.consumers import Received
from portalkit.errors import (
    Conflict,
    DomainError,
    FailedPrecondition,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from portalkit.ids import new_id
from portalkit.pagination import Page
from services.identity import events, passwords, rules
from services.identity.store import IdentityStore

Doc = dict[str, Any]
IMPORT_CONCURRENCY = 16  # rows of one import written at once
SYSTEM = Caller(user_id="system", role="SUPPORT_ADMIN", account_id="", session_id="")


def new_account(name: str, number: str, now: datetime) -> Doc:
    """A new account document; its portal is on until the provider switches it off."""
    return {
        "_id": new_id("acc"),
        "number": number,
        "number_lower": number.lower(),
        "name": name,
        "name_lower": name.lower(),
        "portal_enabled": True,
        "created_at": now,
    }


def password_hasher(profile: str) -> PasswordHasher:
    """argon2id; "fast" is for tests only (the standard cost is ~100 ms a hash)."""
    if profile == "fast":
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


@dataclass(frozen=True)
class Session:
    access_token: str
    refresh_token: str
    expires_at: datetime
    user: Doc


@dataclass(frozen=True)
class ImportRow:
    email: str
    name: str
    role: str
    password_hash: str = field(default="", repr=False)  # the previous system's: never logged, published or returned


@dataclass(frozen=True)
class InviteOutcome:
    email: str
    user: Doc | None
    error: str


def _digest(text: str) -> str:
    """Addresses are counted by hash: the throttle store holds no address."""
    return hashlib.sha256(text.encode()).hexdigest()


class Identity:
    def __init__(
        self,
        store: IdentityStore,
        issuer: TokenIssuer,
        mail: events.IdentityMail,
        clock: Clock,
        hasher: PasswordHasher,
        access_ttl: timedelta = timedelta(minutes=10),
        refresh_ttl: timedelta = timedelta(days=14),
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.mail = mail
        self.clock = clock
        self.hasher = hasher
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        # Verified against when the email is unknown, so both paths cost one argon2 verify.
        self._dummy_hash = hasher.hash(secrets.token_hex(16))
        self._background: set[asyncio.Task[None]] = set()
        # argon2 is CPU-bound by design: a few at a time (one per core), the rest wait their turn
        self._hashing = asyncio.Semaphore(rules.HASHING_SLOTS)

    # --- passwords -------------------------------------------------------------------------
    async def _hash(self, password: str) -> str:
        async with self._hashing_slot():
            return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        """argon2id (the service's, or imported) with argon2-cffi; an imported bcrypt/PBKDF2/argon2i
        hash with its own scheme while one argon2 verify runs alongside, so that such a login takes
        no less time than one with an unknown email (the dummy hash) or an argon2id user."""
        if not passwords.is_service_hash(password_hash):
            imported, _ = await asyncio.gather(
                asyncio.to_thread(passwords.verify_imported, password_hash, password),
                self._verify(self._dummy_hash, password),
            )
            return imported
        async with self._hashing_slot():
            try:
                return await asyncio.to_thread(self.hasher.verify, password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

    @contextlib.asynccontextmanager
    async def _hashing_slot(self) -> AsyncIterator[None]:
        """A turn at the password hasher, waited for at most HASHING_QUEUE_SECONDS (well inside the
        caller's deadline): beyond that the service is saturated and says so, retryably."""
        try:
            await asyncio.wait_for(self._hashing.acquire(), timeout=rules.HASHING_QUEUE_SECONDS)
        except TimeoutError:
            raise RateLimited("the service is busy; try again in a moment", reason="OVERLOADED") from None
        try:
            yield
        finally:
            self._hashing.release()

    def _needs_rehash(self, user: Doc) -> bool:
        """An imported hash (whatever its scheme and cost) or an argon2id of other parameters."""
        stored = str(user["password_hash"])
        if user.get("imported_password") or not passwords.is_service_hash(stored):
            return True
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    # --- sessions --------------------------------------------------------------------------
    async def _open_session(self, user: Doc) -> Session:
        now = self.clock.now()
        refresh = secrets.token_urlsafe(32)
        session_id = new_id("ses")
        await self.store.insert_session(
            {
                "_id": session_id,
                "user_id": user["_id"],
                "token_hash": hash_secret(refresh),
                "previous_token_hashes": [],
                "created_at": now,
                "expires_at": now + self.refresh_ttl,
                "revoked_at": None,
            }
        )
        return self._session(user, session_id, refresh)

    def _session(self, user: Doc, session_id: str, refresh: str) -> Session:
        caller = Caller(user["_id"], user["role"], user.get("account_id", ""), session_id, user.get("team", ""))
        token, expires_at = self.issuer.issue(caller, self.clock.now(), self.access_ttl)
        return Session(token, refresh, expires_at, user)

    async def current_caller(self, verified: Caller) -> Caller:
        return (await self.authenticate(verified))[0]

    async def authenticate(self, verified: Caller) -> tuple[Caller, Doc]:
        """Identity's own calls require the login session to be live (logout, deactivation) and act
        with the user's current role, so a demotion takes effect here at once. Returns the caller and
        their user document."""
        session = await self.store.get_session(verified.session_id)
        if session is None or session["revoked_at"] is not None or as_utc(session["expires_at"]) <= self.clock.now():
            raise Unauthenticated("session ended; log in again", reason="SESSION_REVOKED")
        user = await self.store.get_user(verified.user_id)
        if user is None or user["status"] != "ACTIVE":
            raise Unauthenticated("this login is deactivated", reason="USER_INACTIVE")
        await self._refuse_if_portal_off(user)
        return Caller(user["_id"], user["role"], user.get("account_id", ""), session["_id"], user.get("team", "")), user

    async def _refuse_if_portal_off(self, user: Doc) -> None:
        """Staff have no account, so the switch never touches them."""
        if user.get("account_id"):
            rules.refuse_closed_portal(await self.store.get_account(user["account_id"]))

    async def login(self, email: str, password: str, client_address: str) -> Session:
        now = self.clock.now()
        email = rules.login_email(email)
        keys = [f"email:{_digest(email)}"]
        if client_address:
            keys.append(f"client:{client_address}")
        await self._admit_attempt(keys, now)
        user = await self.store.find_user_by_email(email)
        stored_hash = (user or {}).get("password_hash") or self._dummy_hash
        password = password[: rules.MAX_PASSWORD_LENGTH]
        password_ok = await self._verify(stored_hash, password)
        if user is None or not user.get("password_hash") or not password_ok:
            raise Unauthenticated("invalid email or password", reason="INVALID_CREDENTIALS")
        if user["status"] != "ACTIVE":
            raise Unauthenticated("this login is deactivated; ask an administrator", reason="USER_INACTIVE")
        # only after the password matched, so the answer tells a stranger nothing about the account
        await self._refuse_if_portal_off(user)
        await self._attempt_succeeded(keys)
        rehashed = await self._hash(password) if self._needs_rehash(user) else ""
        user = await self.store.record_login(user["_id"], now, rehashed, replaces=user["password_hash"]) or user
        return await self._open_session(user)

    async def _admit_attempt(self, keys: list[str], now: datetime) -> None:
        """Every attempt is counted, atomically, before its password is checked: of concurrent
        attempts only the first few within the limits are verified at all, so a burst cannot
        check more passwords than the limit (nor slip the right one in among them). A success
        takes its count back (`_attempt_succeeded`)."""
        limits = [rules.MAX_FAILURES_PER_EMAIL, rules.MAX_FAILURES_PER_CLIENT]
        for state in await self.store.get_throttle(keys):
            locked_until = state.get("locked_until")
            if locked_until is not None and as_utc(locked_until) > now:
                raise RateLimited("too many failed logins; try again later")
        for key, limit in zip(keys, limits, strict=False):
            state = await self.store.increment_throttle(key, now - rules.THROTTLE_WINDOW, now)
            if state["failures"] > limit:
                await self.store.lock_throttle(key, now + rules.THROTTLE_LOCK)
                raise RateLimited("too many failed logins; try again later")

    async def _attempt_succeeded(self, keys: list[str]) -> None:
        await self.store.clear_throttle(keys[0])  # the address starts afresh
        for key in keys[1:]:
            await self.store.uncount_attempt(key)  # the client keeps only its failures

    async def refresh(self, refresh_token: str) -> Session:
        now = self.clock.now()
        token_hash = hash_secret(refresh_token)
        # the portal switch is checked before rotating, so the token still works once it is back on
        current = await self.store.find_session_by_token(token_hash)
        if current is not None and current["revoked_at"] is None:
            owner = await self.store.get_user(current["user_id"])
            if owner is not None:
                await self._refuse_if_portal_off(owner)
        new_refresh = secrets.token_urlsafe(32)
        session = await self.store.rotate_session(token_hash, hash_secret(new_refresh), now)
        if session is None:
            reused = await self.store.find_session_by_old_token(token_hash)
            if reused is not None:
                # A rotated token came back: it was stolen or replayed. End that login entirely.
                await self.store.revoke_session(reused["_id"], now)
            raise Unauthenticated("refresh token is invalid, used or expired", reason="INVALID_REFRESH_TOKEN")
        user = await self.store.get_user(session["user_id"])
        if user is None or user["status"] != "ACTIVE":
            await self.store.revoke_session(session["_id"], now)
            raise Unauthenticated("this login is deactivated", reason="USER_INACTIVE")
        return self._session(user, session["_id"], new_refresh)

    async def logout(self, refresh_token: str) -> bool:
        session = await self.store.find_session_by_token(hash_secret(refresh_token))
        if session is None:
            return False
        return await self.store.revoke_session(session["_id"], self.clock.now())

    # --- reads -----------------------------------------------------------------------------
    async def me(self, caller: Caller) -> Doc:
        user = await self.store.get_user(caller.user_id)
        if user is None:
            raise Unauthenticated("user no longer exists")
        return user

    async def get_user(self, caller: Caller, user_id: str) -> Doc:
        user = await self.store.get_user(user_id)
        if user is None or not rules.can_read_user(caller, user):
            raise NotFound("user not found")
        return user

    async def get_users(self, caller: Caller, ids: list[str]) -> list[Doc]:
        return await batch_get(ids, self.store.get_users, lambda user: rules.can_read_user(caller, user))

    async def list_users(
        self, caller: Caller, account_id: str, status: str, role: str, staff: bool, size: int, token: str
    ) -> Page:
        if staff:
            require_staff(caller)
            account_id = ""
        else:
            if not account_id and not caller.is_staff:
                account_id = caller.account_id
            if account_id:
                rules.require_user_listing(caller, account_id)
            elif not caller.is_staff:
                raise Forbidden("only an administrator of the account may list its users")
        return await self.store.list_users(
            account_id=account_id, staff=staff, status=status, role=role, size=size, token=token
        )

    async def list_users_of_accounts(
        self, caller: Caller, account_ids: list[str], status: str, role: str, size: int, token: str
    ) -> list[tuple[str, Page]]:
        """The same page for each account: (account id, page)."""
        account_ids = list(dict.fromkeys(account_ids))[:MAX_BATCH]
        for account_id in account_ids:
            rules.require_user_listing(caller, account_id)
        return [
            (account_id, await self.list_users(caller, account_id, status, role, False, size, token))
            for account_id in account_ids
        ]

    async def get_account(self, caller: Caller, account_id: str) -> Doc:
        account_id = account_id or caller.account_id
        if not account_id:
            raise InvalidInput("staff users must name an account")
        account = await self.store.get_account(account_id)
        if account is None or not can_read_account(caller, account_id):
            raise NotFound("account not found")
        return account

    async def get_accounts(self, caller: Caller, ids: list[str]) -> list[Doc]:
        return await batch_get(ids, self.store.get_accounts, lambda account: can_read_account(caller, account["_id"]))

    async def list_accounts(self, caller: Caller, search: str, size: int, token: str) -> Page:
        require_staff(caller)
        return await self.store.list_accounts(search.strip()[:100], size, token)

    async def account_admins(self, caller: Caller, account_ids: list[str]) -> list[Doc]:
        """Active ADMINs of the accounts ("who can grant me access?"); any member may ask."""
        account_ids = list(dict.fromkeys(account_ids or [caller.account_id]))[:MAX_BATCH]
        for account_id in account_ids:
            require_account_read(caller, account_id)
        return await self.store.active_admins_of(account_ids, per_account=rules.MAX_ADMINS_LISTED)

    # --- accounts and users ----------------------------------------------------------------
    async def create_account(self, caller: Caller, name: str, number: str, admin_email: str, admin_name: str) -> Doc:
        require_support_admin(caller)
        name = rules.clean_name(name, "account name")
        number = number.strip().upper()
        if not number or len(number) > 40 or not all(c.isalnum() or c in "-_" for c in number):
            raise InvalidInput("account number must be letters, digits, '-' or '_' (at most 40)")
        email = rules.normalize_email(admin_email)
        admin_name = rules.clean_name(admin_name, "admin name")
        if await self.store.find_user_by_email(email) is not None:
            raise Conflict(f"{email} already has a user", reason="EMAIL_TAKEN")
        account = new_account(name, number, self.clock.now())
        await self.store.insert_account(account, [events.account_updated(account)])
        try:
            await self._invite(account, email, admin_name, "ADMIN")
        except DomainError:
            # the admin could not be created (e.g. the email was taken meanwhile): no half account
            await self.store.delete_account(account["_id"])
            raise
        return account

    async def set_portal_enabled(self, caller: Caller, account_id: str, enabled: bool) -> Doc:
        """The provider's switch for one account; the same value again changes and publishes nothing."""
        require_support_admin(caller)
        account = await self.store.get_account(account_id)
        if account is None:
            raise NotFound("account not found")
        if rules.portal_enabled(account) == enabled:
            return account
        switched = {**account, "portal_enabled": enabled}
        saved = await self.store.switch_portal(account_id, enabled, [events.account_updated(switched)])
        if saved is not None:
            return saved
        # a concurrent call flipped it first: answer with what is stored now
        return await self.store.get_account(account_id) or switched

    async def set_client_success_manager(self, caller: Caller, account_id: str, user_id: str) -> Doc:
        """The account's dedicated Client Success Manager (seed 003): an active staff user, or none.
        identity owns it and tells the others in account.updated (cases routes by it)."""
        require_support_admin(caller)
        account = await self.store.get_account(account_id)
        if account is None:
            raise NotFound("account not found")
        if user_id:
            manager = await self.store.get_user(user_id)
            if manager is None or manager["role"] not in rules.STAFF_ROLES or manager["status"] != "ACTIVE":
                raise InvalidInput("the Client Success Manager must be an active staff user", reason="NOT_STAFF")
        previous = account.get("client_success_manager_id") or ""
        if previous == user_id:
            return account
        assigned = {**account, "client_success_manager_id": user_id}
        saved = await self.store.assign_client_success_manager(
            account_id, user_id, previous, [events.account_updated(assigned)]
        )
        if saved is None:
            raise Conflict("the account changed meanwhile; try again")
        return saved

    async def create_staff_user(self, caller: Caller, email: str, name: str, role: str, team: str) -> Doc:
        require_support_admin(caller)
        if role not in rules.STAFF_ROLES:
            raise InvalidInput("staff role must be AGENT or SUPPORT_ADMIN", reason="INVALID_ROLE")
        if team and team not in rules.TEAMS:
            raise InvalidInput("unknown support team")
        account = {"_id": "", "name": "Support"}
        return await self._invite(account, rules.normalize_email(email), rules.clean_name(name), role, team=team)

    async def invite_users(
        self, caller: Caller, account_id: str, rows: list[tuple[str, str, str]]
    ) -> list[InviteOutcome]:
        account_id = account_id or caller.account_id
        rules.require_account_management(caller, account_id)
        if not rows:
            raise InvalidInput("give at least one user to invite")
        if len(rows) > rules.MAX_INVITES_PER_CALL:
            raise InvalidInput(f"at most {rules.MAX_INVITES_PER_CALL} invitations per call")
        account = await self.store.get_account(account_id)
        if account is None:
            raise NotFound("account not found")
        outcomes = []
        for email, name, role in rows:
            try:
                user = await self._invite(
                    account,
                    rules.normalize_email(email),
                    rules.clean_name(name),
                    rules.check_customer_role(role or "USER"),
                )
                outcomes.append(InviteOutcome(email, user, ""))
            except DomainError as error:
                outcomes.append(InviteOutcome(email, None, error.message))
        return outcomes

    async def import_users(self, caller: Caller, account_id: str, rows: list[ImportRow]) -> list[InviteOutcome]:
        """Users from a previous portal (design.md flow 12), row by row: a row with the old system's
        password hash becomes an ACTIVE user who logs in with the old password (`user.activated`);
        a row without one is invited. A taken email is reported, never overwritten.

        Answered within the request, as the contract's per-row reply needs: a hash is only parsed
        (about 15 µs), never verified, so a row costs one insert; up to IMPORT_CONCURRENCY rows are
        written at once, so that a real server's round trips overlap."""
        require_support_admin(caller)
        if not account_id:
            raise InvalidInput("name the account to import into")
        if not rows:
            raise InvalidInput("give at least one user to import")
        if len(rows) > rules.MAX_IMPORT_ROWS:
            raise InvalidInput(f"at most {rules.MAX_IMPORT_ROWS} users per import; send the rest in another call")
        account = await self.store.get_account(account_id)
        if account is None:
            raise NotFound("account not found")
        seen: set[str] = set()
        slots = asyncio.Semaphore(IMPORT_CONCURRENCY)

        async def one(row: ImportRow) -> InviteOutcome:
            try:
                email = rules.normalize_email(row.email)
                if email in seen:
                    raise InvalidInput(f"{email} appears more than once in this import")
                seen.add(email)
                async with slots:
                    user = await self._import_one(account, email, row)
                return InviteOutcome(row.email, user, "")
            except DomainError as error:
                return InviteOutcome(row.email, None, error.message)

        return list(await asyncio.gather(*(one(row) for row in rows)))

    async def _import_one(self, account: Doc, email: str, row: ImportRow) -> Doc:
        name = rules.clean_name(row.name)
        role = rules.check_customer_role(row.role or "USER")
        if not row.password_hash.strip():
            return await self._invite(account, email, name, role)
        scheme = passwords.check_imported(row.password_hash.strip())
        now = self.clock.now()
        user: Doc = {
            "_id": new_id("usr"),
            "email": email,
            "name": name,
            "role": role,
            "status": "ACTIVE",
            "team": "",
            "account_id": account["_id"],
            "contact_id": "",
            "password_hash": row.password_hash.strip(),
            "imported_password": {"scheme": scheme, "imported_at": now},
            "email_preferences": dict(rules.DEFAULT_EMAIL_PREFERENCES),
            "created_at": now,
            "last_login_at": None,
        }
        await self.store.insert_user(user, [events.user_activated(user)])
        if rules.is_active_admin(user):
            await self.store.add_active_admin(account["_id"], user["_id"])
        return user

    def _new_invitation(
        self, user: Doc, account_name: str, resend_count: int, voided: list[str]
    ) -> tuple[Doc, EmailMessage]:
        """A fresh invitation for `user` and the mail that carries its token."""
        now = self.clock.now()
        token = secrets.token_urlsafe(32)
        invitation: Doc = {
            "id": new_id("ivt"),  # "inv_" is left to invoices (node ids dispatch on the prefix)
            "status": "PENDING",
            "token_hash": hash_secret(token),
            "voided_token_hashes": voided[-20:],
            "sent_at": now,
            "expires_at": now + rules.INVITATION_TTL,
            "resend_count": resend_count,
        }
        mail = self.mail.invitation(user, account_name, token, invitation["expires_at"])
        return invitation, mail

    async def _invite(
        self,
        account: Doc,
        email: str,
        name: str,
        role: str,
        team: str = "",
        contact_id: str = "",
        event_id: str = "",
    ) -> Doc:
        user: Doc = {
            "_id": new_id("usr"),
            "email": email,
            "name": name,
            "role": role,
            "status": "INVITED",
            "team": team,
            "account_id": account["_id"],
            "contact_id": contact_id,
            "password_hash": "",
            "email_preferences": dict(rules.DEFAULT_EMAIL_PREFERENCES),
            "created_at": self.clock.now(),
            "last_login_at": None,
        }
        user["invitation"], mail = self._new_invitation(user, account["name"], 0, [])
        await self.store.insert_user(user, [events.invitation_sent(user, resend=False), mail], event_id=event_id)
        return user

    async def _account_name(self, user: Doc) -> str:
        account = await self.store.get_account(user["account_id"]) if user.get("account_id") else None
        return account["name"] if account else "Support"

    async def resend_invitation(self, caller: Caller, user_id: str) -> Doc:
        user = await self._managed_user(caller, user_id)
        if user["status"] != "INVITED":
            raise FailedPrecondition(
                "only a user who has not yet accepted can be invited again", reason="USER_NOT_INVITED"
            )
        limits = [(f"resend:{user['_id']}", rules.MAX_RESENDS_PER_USER)]
        if user.get("account_id"):
            limits.append((f"resend-account:{user['account_id']}", rules.MAX_RESENDS_PER_ACCOUNT))
        for key, limit in limits:
            if not await self._within(key, limit):
                raise RateLimited("this invitation was sent too often; try again later", reason="TOO_MANY_RESENDS")
        return await self._reinvite(user)

    async def _within(self, key: str, limit: int) -> bool:
        """Count one more of something limited per MAIL_LIMIT_WINDOW; False once over `limit`."""
        now = self.clock.now()
        state = await self.store.increment_throttle(key, now - rules.MAIL_LIMIT_WINDOW, now)
        return int(state["failures"]) <= limit

    async def _reinvite(self, user: Doc, event_id: str = "") -> Doc:
        old = user.get("invitation") or {}
        voided = [
            *old.get("voided_token_hashes", []),
            *([old["token_hash"]] if old.get("token_hash") else []),
        ]
        invitation, mail = self._new_invitation(
            user, await self._account_name(user), old.get("resend_count", -1) + 1, voided
        )
        updated = {**user, "invitation": invitation, "status": "INVITED"}
        saved = await self.store.replace_invitation(
            user["_id"], invitation, [events.invitation_sent(updated, resend=bool(old)), mail], event_id=event_id
        )
        return self._saved(saved, user, event_id)

    @staticmethod
    def _saved(saved: Doc | None, before: Doc, event_id: str) -> Doc:
        """A conditional write that matched nothing: for a consumer, the event was applied before
        (a redelivery, a no-op); for a request, the user changed meanwhile."""
        if saved is not None:
            return saved
        if event_id:
            return before
        raise Conflict("the user changed meanwhile; try again")

    async def _managed_user(self, caller: Caller, user_id: str) -> Doc:
        user = await self.store.get_user(user_id)
        if user is None or not rules.can_read_user(caller, user):
            raise NotFound("user not found")
        rules.require_user_management(caller, user)
        return user

    # --- the last-admin guard (the account's active-admin set, kept by the store) ---------------
    async def _release_admin(self, user: Doc) -> bool:
        """Before a request's write that ends `user`'s standing as an active ADMIN: take them off their
        account's set, only while another admin stays (one conditional write, so two concurrent
        demotions of the last two admins cannot both pass). True when taken off: the caller puts
        them back (`_restore_admin`) if its own write then fails."""
        if not rules.is_active_admin(user):
            return False
        outcome = await self.store.release_admin(user["account_id"], user["_id"])
        if outcome == "LAST_ADMIN":
            raise FailedPrecondition("the account must keep at least one active administrator", reason="LAST_ADMIN")
        if outcome != "RELEASED":
            raise Conflict("the user changed meanwhile; try again")
        return True

    async def _restore_admin(self, user_id: str) -> None:
        """Compensation for a released admin whose write did not happen: back on the set only if the
        stored user is still an active ADMIN (someone else's write may have ended that)."""
        current = await self.store.get_user(user_id)
        if current is not None:
            await self._sync_admin_set(current)

    async def _sync_admin_set(self, saved: Doc) -> None:
        """After a write that changed a customer user's role or status: the account's set follows the
        user as stored (an addition comes after the user's write, so a crash leaves the set short)."""
        if not saved.get("account_id"):
            return
        if rules.is_active_admin(saved):
            await self.store.add_active_admin(saved["account_id"], saved["_id"])
        else:
            await self.store.remove_active_admin(saved["account_id"], saved["_id"])

    async def _guarded_write(
        self, user: Doc, ends_admin: bool, write: Callable[[], Awaitable[Doc | None]]
    ) -> Doc | None:
        """Run `write()` (a conditional user write) behind the last-admin guard when it ends the
        user's standing as an active ADMIN; compensate if it fails; sync the set after it."""
        released = await self._release_admin(user) if ends_admin else False
        try:
            saved: Doc | None = await write()
        except BaseException:
            if released:
                await self._restore_admin(user["_id"])
            raise
        if saved is None:
            if released:
                await self._restore_admin(user["_id"])
            return None
        await self._sync_admin_set(saved)
        return saved

    async def set_role(self, caller: Caller, user_id: str, role: str) -> Doc:
        user = await self._managed_user(caller, user_id)
        if user.get("account_id"):
            rules.check_customer_role(role)
        elif role not in rules.STAFF_ROLES:
            raise InvalidInput("staff role must be AGENT or SUPPORT_ADMIN", reason="INVALID_ROLE")
        if role == user["role"]:
            return user
        changed = {**user, "role": role}
        outgoing = [events.user_role_changed(changed, user["role"], role)]

        def write() -> Awaitable[Doc | None]:
            return self.store.change_role(user_id, user["status"], user["role"], role, outgoing)

        saved = await self._guarded_write(user, role != "ADMIN", write)
        return self._saved(saved, user, "")

    async def deactivate(self, caller: Caller, user_id: str, reason: str = "deactivated by an administrator") -> Doc:
        user = await self._managed_user(caller, user_id)
        if user["status"] == "INACTIVE":
            return user
        return await self._deactivate(user, reason, guarded=True)

    async def _deactivate(self, user: Doc, reason: str, event_id: str = "", guarded: bool = False) -> Doc:
        """A request is refused for the last admin (`guarded`); a consumer's deactivation (the contact
        was deleted or lost access) is not, and takes the user off the account's set first."""
        if user["status"] == "INACTIVE":
            return user
        pending = user.get("invitation", {}).get("status") == "PENDING"
        outgoing = [events.user_deactivated(user, reason)]

        def write() -> Awaitable[Doc | None]:
            return self.store.deactivate_user(
                user["_id"], user["status"], pending, outgoing, role=user["role"] if guarded else "", event_id=event_id
            )

        if guarded:
            saved = await self._guarded_write(user, True, write)
        else:
            if rules.is_active_admin(user):
                await self.store.remove_active_admin(user["account_id"], user["_id"])
            saved = await write()
            if saved is not None:
                await self._sync_admin_set(saved)
            elif rules.is_active_admin(user):
                await self._restore_admin(user["_id"])
        if saved is not None:
            await self.store.revoke_user_sessions(user["_id"], self.clock.now())
        return self._saved(saved, user, event_id)

    async def activate(self, caller: Caller, user_id: str) -> Doc:
        user = await self._managed_user(caller, user_id)
        return await self._activate(user)

    async def _activate(self, user: Doc, event_id: str = "") -> Doc:
        if user["status"] != "INACTIVE":
            return user
        if not user.get("password_hash"):
            # never set a password: activation means a fresh invitation
            return await self._reinvite(user, event_id=event_id)
        saved = await self.store.reactivate_user(
            user["_id"], [events.user_activated({**user, "status": "ACTIVE"})], event_id=event_id
        )
        if saved is not None:
            await self._sync_admin_set(saved)
        return self._saved(saved, user, event_id)

    # --- invitations -----------------------------------------------------------------------
    async def invitation_info(self, token: str) -> tuple[Doc, str, str]:
        """(user, account name, invitation status as the link shows it)."""
        token_hash = hash_secret(token)
        user = await self.store.find_user_by_invitation(token_hash)
        if user is None:
            raise NotFound("invitation not found")
        invitation = user["invitation"]
        status = rules.invitation_status(invitation, self.clock.now())
        if invitation["token_hash"] != token_hash:
            status = "REVOKED"
        return user, await self._account_name(user), status

    async def accept_invitation(self, token: str, password: str, name: str) -> Session:
        token_hash = hash_secret(token)
        user = await self.store.find_user_by_invitation(token_hash)
        if user is None:
            raise NotFound("invitation not found")
        now = self.clock.now()
        rules.refuse_unusable_invitation(user["invitation"], token_hash, now)
        # accepting logs in: refused (and the token kept) while the provider has the portal off
        await self._refuse_if_portal_off(user)
        rules.check_password_policy(password, user["email"])
        changes: Doc = {"password_hash": await self._hash(password)}
        if name.strip():
            changes["name"] = rules.clean_name(name)
        accepted = {**user, **changes, "status": "ACTIVE"}
        saved = await self.store.accept_invitation(
            user["_id"],
            token_hash,
            now,
            changes,
            [events.invitation_accepted(accepted), events.user_activated(accepted)],
        )
        if saved is None:
            raise FailedPrecondition("this invitation was already used", reason="INVITATION_USED")
        await self._sync_admin_set(saved)
        return await self._open_session(saved)

    # --- passwords -------------------------------------------------------------------------
    async def request_password_reset(self, email: str) -> None:
        """The reply takes the same fixed time for a user, a stranger and a malformed address: the
        lookup and the mail run in the background while the reply waits out RESET_REPLY_SECONDS."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.create_task(self._send_password_reset(email))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        await asyncio.sleep(max(0.0, rules.RESET_REPLY_SECONDS - (loop.time() - started)))

    async def _send_password_reset(self, email: str) -> None:
        address = rules.login_email(email)
        # counted for every address, known or not; over the limit the mail is silently not sent
        if not await self._within(f"reset:{_digest(address)}", rules.MAX_RESETS_PER_ADDRESS):
            return
        user = await self.store.find_user_by_email(address)
        if user is None or user["status"] != "ACTIVE":
            return
        if user.get("account_id") and not await self._within(
            f"reset-account:{user['account_id']}", rules.MAX_RESETS_PER_ACCOUNT
        ):
            return
        token = secrets.token_urlsafe(32)
        expires_at = self.clock.now() + rules.RESET_TOKEN_TTL
        await self.store.set_password_reset(
            user["_id"], hash_secret(token), expires_at, [self.mail.password_reset(user, token, expires_at)]
        )

    async def reset_password(self, token: str, new_password: str) -> None:
        token_hash = hash_secret(token)
        user = await self.store.find_user_by_reset_token(token_hash)
        now = self.clock.now()
        if user is None or user["status"] != "ACTIVE":
            raise FailedPrecondition("this reset link is invalid or was already used", reason="RESET_TOKEN_INVALID")
        if as_utc(user["password_reset"]["expires_at"]) <= now:
            raise FailedPrecondition("this reset link has expired; ask for a new one", reason="RESET_TOKEN_EXPIRED")
        rules.check_password_policy(new_password, user["email"])
        saved = await self.store.use_password_reset(user["_id"], token_hash, await self._hash(new_password))
        if saved is None:
            raise FailedPrecondition("this reset link is invalid or was already used", reason="RESET_TOKEN_INVALID")
        await self.store.revoke_user_sessions(user["_id"], now)
        await self.store.clear_throttle(f"email:{_digest(user['email'])}")

    async def change_password(self, caller: Caller, current: str, new_password: str) -> None:
        user = await self.me(caller)
        if not user.get("password_hash") or not await self._verify(user["password_hash"], current):
            raise InvalidInput("the current password is not correct", reason="WRONG_PASSWORD")
        rules.check_password_policy(new_password, user["email"])
        if current == new_password:
            raise InvalidInput("the new password must differ from the current one", reason="PASSWORD_UNCHANGED")
        await self.store.set_password(user["_id"], await self._hash(new_password))
        await self.store.revoke_user_sessions(user["_id"], self.clock.now(), keep=caller.session_id)

    # --- preferences and announcements ------------------------------------------------------
    async def update_email_preferences(self, caller: Caller, changes: dict[str, bool]) -> Doc:
        unknown = set(changes) - set(rules.DEFAULT_EMAIL_PREFERENCES)
        if unknown:
            raise InvalidInput(f"unknown preferences: {', '.join(sorted(unknown))}")
        saved = await self.store.set_email_preferences(caller.user_id, changes)
        if saved is None:
            raise NotFound("user not found")
        return {**rules.DEFAULT_EMAIL_PREFERENCES, **saved.get("email_preferences", {})}

    async def publish_announcement(
        self, caller: Caller, kind: str, title: str, body: str, starts_at: datetime, ends_at: datetime | None
    ) -> Doc:
        require_support_admin(caller)
        if kind not in rules.ANNOUNCEMENT_KINDS:
            raise InvalidInput("kind must be MAINTENANCE or INCIDENT")
        title = rules.clean_name(title, "title")
        body = body.strip()
        if not body or len(body) > 20_000:
            raise InvalidInput("body must have 1 to 20000 characters")
        rules.announcement_window(starts_at, ends_at)
        announcement: Doc = {
            "_id": new_id("ann"),
            "kind": kind,
            "title": title,
            "body": body,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "published_at": self.clock.now(),
            "published_by": caller.user_id,
        }
        await self.store.insert_announcement(announcement, [events.announcement_published(announcement)])
        return announcement

    async def announcements(self, active_only: bool) -> list[Doc]:
        return await self.store.list_announcements(self.clock.now() if active_only else None)

    async def get_announcements(self, ids: list[str]) -> list[Doc]:
        return await batch_get(ids, self.store.get_announcements, lambda _: True)

    # --- reactions to other services' events (the table is in consumers.py) -------------------
    async def on_announcement_published(self, event: Received[AnnouncementPublished]) -> None:
        """Queue the announcement's mail for every active user who opted in to its kind, in each
        user's own outbox once per event (a redelivery adds none)."""
        found = await self.store.get_announcements([event.data.id])
        if not found:
            return
        announcement = found[0]
        preference = "maintenance" if announcement["kind"] == "MAINTENANCE" else "incident"
        for user in await self.store.active_users_opted_in(preference):
            await self.store.queue_mail_once(user["_id"], [self.mail.announcement(user, announcement)], event.id)

    async def on_contact_access_changed(self, event: Received[ContactPortalAccessChanged]) -> None:
        contact = event.data
        if contact.enabled:
            await self._grant_portal_access(event.id, contact)
        else:
            await self._revoke_portal_access(event.id, contact.contact_id, "portal access disabled")

    async def on_contact_deleted(self, event: Received[ContactDeleted]) -> None:
        await self._revoke_portal_access(event.id, event.data.contact_id, "contact deleted")

    async def _grant_portal_access(self, event_id: str, contact: ContactPortalAccessChanged) -> None:
        user = await self.store.find_user_by_contact(contact.contact_id)
        if user is None:
            user = await self.store.find_user_by_email(rules.login_email(contact.email))
            if user is not None and user.get("account_id") != contact.account_id:
                raise Forbidden(f"{contact.email} is a user of another account")
        account = await self.store.get_account(contact.account_id)
        if account is None:
            raise NotFound(f"account {contact.account_id} not found")
        if not rules.portal_enabled(account):
            # contacts refuses this too; an event that got past it is refused here (dead-lettered)
            raise FailedPrecondition(
                f"the provider has switched the portal off for account {account['number']}",
                reason=rules.PORTAL_DISABLED,
            )
        if user is None:
            role = contact.role if contact.role in rules.CUSTOMER_ROLES else "USER"
            try:
                await self._invite(
                    account,
                    rules.normalize_email(contact.email),
                    rules.clean_name(contact.name or contact.email),
                    role,
                    contact_id=contact.contact_id,
                    event_id=event_id,
                )
            except Conflict:
                return  # a redelivery raced the first delivery, which created the user
            return
        if user.get("contact_id") != contact.contact_id:
            if user["status"] != "INACTIVE":
                await self._link_contact(user, contact.contact_id, event_id)
                return
            # linked first, so that the activation below (once per event) carries the contact id
            user = await self.store.link_contact(user["_id"], "INACTIVE", contact.contact_id) or user
        if user["status"] == "INACTIVE":
            await self._activate(user, event_id=event_id)

    async def _link_contact(self, user: Doc, contact_id: str, event_id: str) -> None:
        """An existing user becomes the contact's: contacts learns it from the event that states
        the user's standing (active, or invited and not yet accepted), in the same write."""
        linked = {**user, "contact_id": contact_id}
        if user["status"] == "ACTIVE":
            news: Event = events.user_activated(linked)
        else:
            news = events.invitation_sent(linked, resend=False)
        await self.store.link_contact(user["_id"], user["status"], contact_id, [news], event_id=event_id)

    async def _revoke_portal_access(self, event_id: str, contact_id: str, reason: str) -> None:
        user = await self.store.find_user_by_contact(contact_id)
        if user is not None:
            await self._deactivate(user, reason, event_id=event_id)

"""Pure identity rules: who may do what, password policy, input checks, invitation state.

No I/O here, so unit tests call these directly.
"""

from __future__ import annotations

import os
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from zxcvbn import zxcvbn

from portalkit.access import can_manage_account
from portalkit.auth import STAFF_ROLES, Caller
from portalkit.clock import as_utc
from portalkit.emails import normalize_email
from portalkit.enums import enum_names
from portalkit.errors import FailedPrecondition, Forbidden, InvalidInput, Unauthenticated
from protos.identity.v1 import identity_pb2 as pb

ALL_ROLES = frozenset(enum_names(pb.Role))
CUSTOMER_ROLES = ALL_ROLES - STAFF_ROLES
TEAMS = frozenset(enum_names(pb.SupportTeam))
ANNOUNCEMENT_KINDS = frozenset(enum_names(pb.AnnouncementKind))

INVITATION_TTL = timedelta(hours=72)
RESET_TOKEN_TTL = timedelta(hours=1)
# requestPasswordReset always answers after this long, so its timing reveals nothing.
RESET_REPLY_SECONDS = 0.2
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
MAX_NAME_LENGTH = 200
MAX_INVITES_PER_CALL = 50
# Account.admins is a short list ("who can grant me access?"); the gateway's cost estimate knows it.
MAX_ADMINS_LISTED = 50
# importUsers answers within the gateway's deadline: 1,000 rows take well under a second (bench)
MAX_IMPORT_ROWS = 1000

# Login throttling: failures per email, and per client address, within a window.
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_LOCK = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_CLIENT = 50

# Mail a stranger can trigger: per address (and per account) within a window. Over the limit a
# reset request still answers the same (no enumeration) but sends nothing; a resend is refused.
MAIL_LIMIT_WINDOW = timedelta(hours=1)
MAX_RESETS_PER_ADDRESS = 3
MAX_RESETS_PER_ACCOUNT = 30
MAX_RESENDS_PER_USER = 5
MAX_RESENDS_PER_ACCOUNT = 100

# Password hashing: at most one argon2 computation per core at a time; a request waits at most
# this long for its turn (the gateway's deadline is 5 s) before it is told to retry.
HASHING_SLOTS = max(2, os.cpu_count() or 2)
HASHING_QUEUE_SECONDS = 3.0

DEFAULT_EMAIL_PREFERENCES = {"maintenance": False, "incident": False, "case_updates": True, "billing": True}

PORTAL_DISABLED = "PORTAL_DISABLED_FOR_ACCOUNT"


def login_email(raw: str) -> str:
    """Like normalize_email but never fails: a malformed address simply matches no user."""
    try:
        return normalize_email(raw)
    except InvalidInput:
        return unicodedata.normalize("NFKC", raw).strip().lower()


def clean_name(raw: str, what: str = "name") -> str:
    name = " ".join(raw.split())
    if not name:
        raise InvalidInput(f"{what} must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{what} is longer than {MAX_NAME_LENGTH} characters")
    return name


def check_password_policy(password: str, email: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD_LENGTH} characters", reason="PASSWORD_TOO_SHORT")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"password must have at most {MAX_PASSWORD_LENGTH} characters", reason="PASSWORD_TOO_LONG")
    lowered = password.lower()
    local_part = email.split("@", 1)[0]
    if lowered == email or (len(local_part) >= 4 and local_part in lowered):
        raise InvalidInput("password must not contain your email address", reason="PASSWORD_CONTAINS_EMAIL")
    result = zxcvbn(password[:72], user_inputs=[email, local_part])  # zxcvbn refuses longer input
    if result["score"] < 2:
        hint = result["feedback"].get("warning") or "it is too easy to guess"
        raise InvalidInput(f"password is too common: {hint}", reason="PASSWORD_TOO_COMMON")


def check_customer_role(role: str) -> str:
    if role not in CUSTOMER_ROLES:
        raise InvalidInput("role must be USER, MANAGER or ADMIN for a customer user", reason="INVALID_ROLE")
    return role


# --- permissions (design.md section 4) ------------------------------------------------------


def is_active_admin(user: dict[str, Any]) -> bool:
    """Counts towards the account's administrators (the last one cannot be demoted or deactivated)."""
    return bool(user.get("account_id")) and user.get("role") == "ADMIN" and user.get("status") == "ACTIVE"


def require_user_listing(caller: Caller, account_id: str) -> None:
    """ADMIN of the account; AGENT reads; SUPPORT_ADMIN everything."""
    if caller.is_staff:
        return
    if caller.role != "ADMIN" or caller.account_id != account_id:
        raise Forbidden("only an administrator of the account may list its users")


def require_user_management(caller: Caller, target: dict[str, Any]) -> None:
    """Invite/resend, change role, deactivate/activate: ADMIN of the same account or SUPPORT_ADMIN."""
    if not can_manage_account(caller, target.get("account_id", "")):
        raise Forbidden("you may not manage this user")


def require_account_management(caller: Caller, account_id: str) -> None:
    if not can_manage_account(caller, account_id):
        raise Forbidden("only an administrator of the account may manage its users")


def can_read_user(caller: Caller, user: dict[str, Any]) -> bool:
    """Members see the users of their account (case requesters, commenters) and staff users
    (assignees); staff see everyone."""
    return (
        caller.is_staff
        or user["_id"] == caller.user_id
        or user.get("role") in STAFF_ROLES
        or (bool(caller.account_id) and user.get("account_id") == caller.account_id)
    )


def can_read_private(caller: Caller, user: dict[str, Any]) -> bool:
    """Invitation, email preferences and last login: the user, the account's ADMIN, staff."""
    return (
        caller.is_staff
        or user["_id"] == caller.user_id
        or (caller.role == "ADMIN" and user.get("account_id") == caller.account_id)
    )


# --- the provider's portal switch ---------------------------------------------------------------


def portal_enabled(account: dict[str, Any]) -> bool:
    """An account stored before the switch existed has no field: its portal is on."""
    return bool(account.get("portal_enabled", True))


def refuse_closed_portal(account: dict[str, Any] | None) -> None:
    """Customer users of an account whose portal the provider switched off cannot sign in."""
    if account is not None and not portal_enabled(account):
        raise Unauthenticated(
            "the provider has switched the portal off for your account; contact support",
            reason=PORTAL_DISABLED,
        )


# --- invitations ------------------------------------------------------------------------------


def invitation_status(invitation: dict[str, Any] | None, now: datetime) -> str:
    if not invitation:
        return "REVOKED"
    status = str(invitation["status"])
    if status == "PENDING" and as_utc(invitation["expires_at"]) <= now:
        return "EXPIRED"
    return status


def refuse_unusable_invitation(invitation: dict[str, Any], token_hash: str, now: datetime) -> None:
    """Raise the FAILED_PRECONDITION a used, expired or voided token deserves."""
    if token_hash != invitation.get("token_hash"):
        raise FailedPrecondition("this invitation link was replaced by a newer one", reason="INVITATION_REVOKED")
    status = invitation_status(invitation, now)
    if status == "ACCEPTED":
        raise FailedPrecondition("this invitation was already used", reason="INVITATION_USED")
    if status == "EXPIRED":
        raise FailedPrecondition("this invitation has expired; ask for a new one", reason="INVITATION_EXPIRED")
    if status == "REVOKED":
        raise FailedPrecondition("this invitation was revoked", reason="INVITATION_REVOKED")


def announcement_window(starts_at: datetime, ends_at: datetime | None) -> None:
    if ends_at is not None and ends_at <= starts_at:
        raise InvalidInput("endsAt must be after startsAt")

"""Contact rules (design.md sections 4 and 5.1-5.3): who may do what, input checks, how an event
moves a contact's portal-access state. No I/O here."""

from __future__ import annotations

from typing import Any

from portalkit.access import can_manage_account
from portalkit.auth import STAFF_ROLES, Caller
from portalkit.emails import normalize_email
from portalkit.enums import enum_names
from portalkit.errors import FailedPrecondition, Forbidden, InvalidInput
from protos.identity.v1 import identity_pb2

MAX_TEXT = 200
MAX_EXTERNAL_ROWS = 500
TEXT_FIELDS = ("first_name", "last_name", "email", "phone", "title")
CUSTOMER_ROLES = frozenset(enum_names(identity_pb2.Role)) - STAFF_ROLES
# What each identity event means for the contact's portal access (NONE until a user exists).
ACCESS_AFTER = {
    "invitation.sent": "INVITED",
    "invitation.accepted": "ACTIVE",
    "user.activated": "ACTIVE",
    "user.deactivated": "DISABLED",
}


def can_read(caller: Caller, contact: dict[str, Any]) -> bool:
    """Staff read every account's contacts; a customer ADMIN their own account's."""
    return caller.is_staff or can_manage_account(caller, contact.get("account_id", ""))


def require_read(caller: Caller, account_id: str) -> None:
    if not (caller.is_staff or can_manage_account(caller, account_id)):
        raise Forbidden("only an administrator of the account may see its contacts")


def require_manage(caller: Caller, account_id: str) -> None:
    """ADMIN of the account or SUPPORT_ADMIN; AGENT reads only."""
    if not can_manage_account(caller, account_id):
        raise Forbidden("only an administrator of the account may manage its contacts")


def account_of(caller: Caller, account_id: str) -> str:
    """The account a request is about: customers always their own; staff must name one."""
    if caller.role in STAFF_ROLES:
        if not account_id:
            raise InvalidInput("staff must name the account (accountId)")
        return account_id
    return account_id or caller.account_id


def clean_text(value: str | None, what: str, *, required: bool = False) -> str:
    text = " ".join((value or "").split())
    if required and not text:
        raise InvalidInput(f"{what} must not be empty")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{what} is longer than {MAX_TEXT} characters")
    return text


def clean_role(role: str) -> str:
    role = role or "USER"
    if role not in CUSTOMER_ROLES:
        raise InvalidInput("portal role must be USER, MANAGER or ADMIN", reason="INVALID_ROLE")
    return role


def contact_fields(values: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Checked contact fields from input `values` (only those given when `partial`)."""
    out: dict[str, Any] = {}
    for field in ("first_name", "last_name"):
        if not partial or values.get(field) is not None:
            out[field] = clean_text(values.get(field), field.replace("_", " "), required=True)
    if not partial or values.get("email") is not None:
        out["email"] = normalize_email(values.get("email") or "")
    for field in ("phone", "title"):
        if not partial or values.get(field) is not None:
            out[field] = clean_text(values.get(field), field)
    if not partial or values.get("is_primary") is not None:
        out["is_primary"] = bool(values.get("is_primary"))
    return out


def require_portal_on(portal_enabled: bool) -> None:
    if not portal_enabled:
        raise FailedPrecondition(
            "the portal is switched off for this account; ask your provider to turn it on",
            reason="PORTAL_DISABLED_FOR_ACCOUNT",
        )


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in after.items() if before.get(k) != v)

"""Role predicates every service applies to the caller it verified (design.md section 4).

A service's own rules combine these (with `Caller.is_staff`); none of them does I/O.
"""

from __future__ import annotations

from portalkit.auth import Caller
from portalkit.errors import Forbidden


def is_support_admin(caller: Caller) -> bool:
    return caller.role == "SUPPORT_ADMIN"


def can_read_account(caller: Caller, account_id: str) -> bool:
    """Staff read every account; a customer only their own."""
    return caller.is_staff or (bool(account_id) and caller.account_id == account_id)


def can_manage_account(caller: Caller, account_id: str) -> bool:
    """The account's ADMIN, or a SUPPORT_ADMIN."""
    return is_support_admin(caller) or (caller.role == "ADMIN" and bool(account_id) and caller.account_id == account_id)


def require_staff(caller: Caller) -> None:
    if not caller.is_staff:
        raise Forbidden("only support staff may do this")


def require_support_admin(caller: Caller) -> None:
    if not is_support_admin(caller):
        raise Forbidden("only a support administrator may do this")


def require_account_read(caller: Caller, account_id: str) -> None:
    if not can_read_account(caller, account_id):
        raise Forbidden("not your account")

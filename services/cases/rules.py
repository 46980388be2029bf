"""Who may read what in the cases service (design.md section 4)."""

from __future__ import annotations

from typing import Any

from portalkit.access import can_read_account
from portalkit.auth import Caller


def can_read(caller: Caller, case: dict[str, Any]) -> bool:
    """Staff see every case; MANAGER and ADMIN all of their account's; a USER those they opened."""
    if not can_read_account(caller, case.get("account_id") or ""):
        return False
    return caller.is_staff or caller.role != "USER" or case.get("requester_id") == caller.user_id

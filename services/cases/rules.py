"""Who may read what in the cases service (design.md section 4)."""

from __future__ import annotations

from typing import Any

from portalkit.auth import Caller


def can_read(caller: Caller, doc: dict[str, Any]) -> bool:
    if caller.is_staff:
        return True
    if doc.get("account_id") != caller.account_id:
        return False
    # a USER sees the cases they opened; MANAGER and ADMIN see all of the account's
    return caller.role != "USER" or doc.get("requester_id") == caller.user_id

"""Who may read what in the billing service (design.md section 4)."""

from __future__ import annotations

from typing import Any

from portalkit.auth import Caller


def can_read(caller: Caller, doc: dict[str, Any]) -> bool:
    return caller.is_staff or doc.get("account_id") == caller.account_id

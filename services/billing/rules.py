"""Who may read what in the billing service (design.md section 4)."""

from __future__ import annotations

from typing import Any

from portalkit.access import can_read_account
from portalkit.auth import Caller


def can_read(caller: Caller, invoice: dict[str, Any]) -> bool:
    return can_read_account(caller, invoice.get("account_id", ""))

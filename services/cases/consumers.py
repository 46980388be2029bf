"""The events the cases service consumes: its consumer table, one durable queue per purpose
(design.md 3: the Client Success Manager for routing; requester state and who a mail's sender is)."""

from __future__ import annotations

from portalkit.catalog import AccountUpdated, UserActivated, UserDeactivated, UserRoleChanged
from portalkit.consumers import Consumer
from services.cases.domain import Cases


def consumers(cases: Cases) -> list[Consumer]:
    return [
        Consumer("cases.accounts", {AccountUpdated: cases.on_account_updated}),
        Consumer(
            "cases.requesters",
            {
                UserDeactivated: cases.on_user_state,
                UserActivated: cases.on_user_activated,
                UserRoleChanged: cases.on_role_changed,
            },
        ),
    ]

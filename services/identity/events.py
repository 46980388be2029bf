"""What identity tells others: its events (contract/events.md, as catalog classes) and its mail.

Both are handed to the store's writes, which put them in the changed document's outbox.
Consuming lives in `consumers.py`.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any

from portalkit.catalog import (
    AccountUpdated,
    AnnouncementPublished,
    InvitationAccepted,
    InvitationSent,
    UserActivated,
    UserDeactivated,
    UserRoleChanged,
)
from portalkit.events import iso_time
from portalkit.mail import build_message
from services.identity import rules

User = dict[str, Any]


def _about(user: User) -> dict[str, Any]:
    return {
        "user_id": user["_id"],
        "account_id": user.get("account_id") or None,
        "contact_id": user.get("contact_id") or None,
    }


def account_updated(account: dict[str, Any]) -> AccountUpdated:
    """The account as it is after the change (contacts keeps its copy of the portal switch from it)."""
    return AccountUpdated(
        account_id=account["_id"],
        number=account["number"],
        name=account["name"],
        portal_enabled=rules.portal_enabled(account),
        client_success_manager_id=account.get("client_success_manager_id") or None,
    )


def invitation_sent(user: User, resend: bool) -> InvitationSent:
    invitation = user["invitation"]
    return InvitationSent(
        **_about(user),
        email=user["email"],
        role=user["role"],
        invitation_id=invitation["id"],
        expires_at=iso_time(invitation["expires_at"]),
        resend=resend,
    )


def invitation_accepted(user: User) -> InvitationAccepted:
    return InvitationAccepted(**_about(user), invitation_id=user["invitation"]["id"])


def user_activated(user: User) -> UserActivated:
    return UserActivated(**_about(user), email=user["email"], role=user["role"])


def user_deactivated(user: User, reason: str) -> UserDeactivated:
    return UserDeactivated(**_about(user), reason=reason)


def user_role_changed(user: User, old_role: str, new_role: str) -> UserRoleChanged:
    return UserRoleChanged(**_about(user), old_role=old_role, new_role=new_role)


def announcement_published(announcement: dict[str, Any]) -> AnnouncementPublished:
    ends_at = announcement.get("ends_at")
    return AnnouncementPublished(
        id=announcement["_id"],
        kind=announcement["kind"],
        title=announcement["title"],
        starts_at=iso_time(announcement["starts_at"]),
        ends_at=iso_time(ends_at) if ends_at else None,
    )


class IdentityMail:
    """The mail identity sends; each goes out through the outbox so it survives a crash."""

    def __init__(self, sender: str, public_url: str) -> None:
        self._sender = sender
        self._public_url = public_url.rstrip("/")

    def invitation(self, user: User, account_name: str, token: str, expires_at: datetime) -> EmailMessage:
        link = f"{self._public_url}/accept-invitation?token={token}"
        return build_message(
            self._sender,
            user["email"],
            f"You are invited to the {account_name} customer portal",
            f"Hello {user['name']},\n\nYou have been invited to the customer portal of {account_name}.\n"
            f"Set your password here to activate your login:\n\n{link}\n\n"
            f"The link works once and expires at {iso_time(expires_at)} (72 hours after it was sent).\n",
        )

    def password_reset(self, user: User, token: str, expires_at: datetime) -> EmailMessage:
        link = f"{self._public_url}/reset-password?token={token}"
        return build_message(
            self._sender,
            user["email"],
            "Reset your customer portal password",
            f"Hello {user['name']},\n\nSomeone asked to reset the password of your portal login.\n"
            f"Choose a new password here:\n\n{link}\n\nThe link works once and expires at "
            f"{iso_time(expires_at)}. If you did not ask for this, ignore this message.\n",
        )

    def announcement(self, user: User, announcement: dict[str, Any]) -> EmailMessage:
        ends = announcement.get("ends_at")
        window = f"From {iso_time(announcement['starts_at'])}" + (f" to {iso_time(ends)}" if ends else "")
        return build_message(
            self._sender,
            user["email"],
            f"[{announcement['kind'].title()}] {announcement['title']}",
            f"{window}\n\n{announcement['body']}\n\n"
            "You receive this because you opted in to these notices in your email preferences.\n",
        )

"""Identity's events: the outbox entries it publishes (contract/events.md) and the mail it sends.

Consuming (contact events, announcement mail) lives in `consumers.py`.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any

from portalkit.events import iso_time
from portalkit.mail import build_message
from portalkit.outbox import event_entry, mail_entry

SOURCE = "identity"
Entry = dict[str, Any]


def _user_event(event_type: str, user: dict[str, Any], data: dict[str, Any]) -> Entry:
    base = {"userId": user["_id"], "accountId": user.get("account_id") or None}
    if user.get("contact_id"):
        base["contactId"] = user["contact_id"]
    return event_entry(SOURCE, event_type, f"user/{user['_id']}", {**base, **data}, user.get("account_id", ""))


def invitation_sent(user: dict[str, Any], resend: bool) -> Entry:
    invitation = user["invitation"]
    return _user_event(
        "invitation.sent",
        user,
        {
            "email": user["email"],
            "role": user["role"],
            "invitationId": invitation["id"],
            "expiresAt": iso_time(invitation["expires_at"]),
            "resend": resend,
        },
    )


def invitation_accepted(user: dict[str, Any]) -> Entry:
    return _user_event("invitation.accepted", user, {"invitationId": user["invitation"]["id"]})


def user_activated(user: dict[str, Any]) -> Entry:
    return _user_event("user.activated", user, {"email": user["email"], "role": user["role"]})


def user_deactivated(user: dict[str, Any], reason: str) -> Entry:
    return _user_event("user.deactivated", user, {"reason": reason})


def user_role_changed(user: dict[str, Any], old_role: str, new_role: str) -> Entry:
    return _user_event("user.role_changed", user, {"oldRole": old_role, "newRole": new_role})


def announcement_published(announcement: dict[str, Any]) -> Entry:
    ends_at = announcement.get("ends_at")
    return event_entry(
        SOURCE,
        "announcement.published",
        f"announcement/{announcement['_id']}",
        {
            "id": announcement["_id"],
            "kind": announcement["kind"],
            "title": announcement["title"],
            "startsAt": iso_time(announcement["starts_at"]),
            "endsAt": iso_time(ends_at) if ends_at else None,
        },
    )


class IdentityMail:
    """The mail identity sends; each becomes an outbox entry so it survives a crash."""

    def __init__(self, sender: str, public_url: str) -> None:
        self._sender = sender
        self._public_url = public_url.rstrip("/")

    def _entry(self, to: str, subject: str, text: str) -> Entry:
        message: EmailMessage = build_message(self._sender, to, subject, text)
        return mail_entry(message)

    def invitation(self, user: dict[str, Any], account_name: str, token: str, expires_at: datetime) -> Entry:
        link = f"{self._public_url}/accept-invitation?token={token}"
        return self._entry(
            user["email"],
            f"You are invited to the {account_name} customer portal",
            f"Hello {user['name']},\n\nYou have been invited to the customer portal of {account_name}.\n"
            f"Set your password here to activate your login:\n\n{link}\n\n"
            f"The link works once and expires at {iso_time(expires_at)} (72 hours after it was sent).\n",
        )

    def password_reset(self, user: dict[str, Any], token: str, expires_at: datetime) -> Entry:
        link = f"{self._public_url}/reset-password?token={token}"
        return self._entry(
            user["email"],
            "Reset your customer portal password",
            f"Hello {user['name']},\n\nSomeone asked to reset the password of your portal login.\n"
            f"Choose a new password here:\n\n{link}\n\nThe link works once and expires at "
            f"{iso_time(expires_at)}. If you did not ask for this, ignore this message.\n",
        )

    def announcement(self, user: dict[str, Any], announcement: dict[str, Any]) -> Entry:
        ends = announcement.get("ends_at")
        window = f"From {iso_time(announcement['starts_at'])}" + (f" to {iso_time(ends)}" if ends else "")
        return self._entry(
            user["email"],
            f"[{announcement['kind'].title()}] {announcement['title']}",
            f"{window}\n\n{announcement['body']}\n\n"
            "You receive this because you opted in to these notices in your email preferences.\n",
        )

"""What the cases service tells others: its events (contract/events.md) and its mails (design.md 3:
the autoreply with case number and ref tag, update notices). Internal notes are in neither: a
`case.comment_added` for a note says only that one was added (internal=true), and no mail quotes it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from portalkit.catalog import CaseClosed, CaseCommentAdded, CaseCreated, CaseStatusChanged, CaseUpdated
from portalkit.events import iso_time
from portalkit.mail import build_message

Case = dict[str, Any]


def _account(case: Case) -> str | None:
    return case.get("account_id") or None


def created(case: Case) -> CaseCreated:
    return CaseCreated(
        case_id=case["_id"],
        number=case["number"],
        account_id=_account(case),
        requester_id=case.get("requester_id") or None,
        subject=case["subject"],
        priority=case["priority"],
        team=case["team"],
        channel=case["channel"],
        related_case_id=case.get("related_case_id") or None,
    )


def updated(case: Case, changed: list[str]) -> CaseUpdated:
    return CaseUpdated(case_id=case["_id"], number=case["number"], account_id=_account(case), changed=changed)


def comment_added(case: Case, comment: dict[str, Any]) -> CaseCommentAdded:
    return CaseCommentAdded(
        case_id=case["_id"],
        number=case["number"],
        account_id=_account(case),
        comment_id=comment["_id"],
        author_id=comment.get("author_id") or None,
        internal=comment["internal"],
        channel=comment["channel"],
    )


def status_changed(case: Case, old: str, new: str) -> CaseStatusChanged:
    return CaseStatusChanged(
        case_id=case["_id"], number=case["number"], account_id=_account(case), old_status=old, new_status=new
    )


def closed(case: Case) -> CaseClosed:
    return CaseClosed(
        case_id=case["_id"], number=case["number"], account_id=_account(case), closed_at=iso_time(case["closed_at"])
    )


STATUS_WORDS = {
    "NEW": "new",
    "OPEN": "open: we are working on it",
    "PENDING_CUSTOMER": "waiting for your reply",
    "ON_HOLD": "on hold",
    "SOLVED": "solved",
    "CLOSED": "closed",
}


@dataclass(frozen=True)
class Mails:
    """The service's mails. Every subject carries the case number and the ref tag, so that a reply
    threads into the case (seed 003: "please leave the ref tag in the subject line")."""

    sender: str
    public_url: str
    team_addresses: dict[str, str]
    # The inbound email-to-case address: every mail's Reply-To, so that replies come back to us.
    reply_to: str = ""

    def _threaded(self, case: Case, message: EmailMessage) -> EmailMessage:
        """Reply-To the inbound address, and a Message-ID that names the case with its ref tag's
        mac (<case.<number>.<mac>.<random>@portal>): a reply's In-Reply-To/References thread by it,
        checked like the tag itself."""
        _, number, mac = str(case["ref_tag"]).split(":")
        del message["Message-ID"]
        message["Message-ID"] = f"<case.{number}.{mac}.{uuid.uuid4().hex[:12]}@portal>"
        if self.reply_to:
            message["Reply-To"] = self.reply_to
        return message

    def _subject(self, case: Case, text: str) -> str:
        return f"[Case {case['number']}] {text} [{case['ref_tag']}]"

    def _link(self, case: Case) -> str:
        return f"{self.public_url.rstrip('/')}/cases/{case['number']}"

    def _headers(self, case: Case, auto: str = "") -> dict[str, str]:
        """`auto`: the RFC 3834 Auto-Submitted value of a machine-made mail (none on an answer)."""
        return {"X-Portal-Case": case["number"], **({"Auto-Submitted": auto} if auto else {})}

    def autoreply(
        self, case: Case, related_number: str = "", *, related_closed: bool = False, unknown_sender: bool = False
    ) -> EmailMessage:
        lines = [
            f"Thank you for contacting support. Your case number is {case['number']}.",
            "",
            f"Subject: {case['subject']}",
            f"Priority: {case['priority']}",
            "",
            "Please keep the reference below in the subject line when you reply, so that your reply",
            f"reaches the person working on your case: {case['ref_tag']}",
        ]
        if related_number and related_closed:
            lines += [
                "",
                f"Case {related_number} is closed, so your mail did not reopen it: we opened this new case,",
                f"which follows up case {related_number}.",
            ]
        elif related_number:
            lines += ["", f"This case follows up case {related_number}."]
        if unknown_sender:
            lines += [
                "",
                "This address has no login to our Service Portal, so the case is not yet linked to your",
                "company's account; our team will link it. For portal access, ask a Service Portal",
                "administrator of your company to add you (contact support for a list of them). You can",
                "always reply to this mail to add to your case.",
            ]
        else:
            lines += ["", f"Follow your case in the portal: {self._link(case)}"]
        return self._threaded(
            case,
            build_message(
                self.sender,
                case["requester_email"],
                self._subject(case, f"Received: {case['subject']}"),
                "\n".join(lines),
                self._headers(case, "auto-replied"),
            ),
        )

    def answer(self, case: Case, comment: dict[str, Any], author_name: str) -> EmailMessage:
        """A public staff comment: the answer to the request, always mailed to the requester."""
        text = "\n".join(
            [
                f"{author_name or 'Support'} replied to your case {case['number']} ({case['subject']}):",
                "",
                comment["body"],
                "",
                f"Status: {STATUS_WORDS[case['status']]}",
                f"Reply to this mail (keep {case['ref_tag']} in the subject) or in the portal: {self._link(case)}",
            ]
        )
        message = build_message(
            self.sender,
            case["requester_email"],
            self._subject(case, f"New reply: {case['subject']}"),
            text,
            self._headers(case),
        )
        return self._threaded(case, message)

    def status_notice(self, case: Case, old: str, new: str) -> EmailMessage:
        text = "\n".join(
            [
                f"Your case {case['number']} ({case['subject']}) is now {STATUS_WORDS[new]}.",
                f"It was {STATUS_WORDS[old]}.",
                "",
                f"See it in the portal: {self._link(case)}",
                "You get these notices because 'Case updates' is on in your email preferences.",
            ]
        )
        message = build_message(
            self.sender,
            case["requester_email"],
            self._subject(case, f"Status {new.replace('_', ' ').title()}: {case['subject']}"),
            text,
            self._headers(case, "auto-generated"),
        )
        return self._threaded(case, message)

    def customer_comment_alert(self, case: Case, comment: dict[str, Any]) -> EmailMessage:
        """A customer commented: the assignee (or, with none, the team's queue) hears of it."""
        to = case.get("assignee_email") or self.team_addresses.get(case["team"], "")
        text = "\n".join(
            [
                f"{comment['author_email']} commented on case {case['number']} ({case['subject']}):",
                "",
                comment["body"],
                "",
                f"Status: {case['status']}; team {case['team']}.",
                f"Open the case: {self._link(case)}",
            ]
        )
        message = build_message(
            self.sender,
            to,
            self._subject(case, f"Customer comment: {case['subject']}"),
            text,
            self._headers(case),
        )
        return self._threaded(case, message)

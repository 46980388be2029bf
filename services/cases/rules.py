"""Case rules (design.md sections 4, 5.5, 5.7): who may see and do what, input checks, the status
moves, case numbers, ref tags and download tickets. No I/O here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portalkit.access import can_read_account
from portalkit.auth import Caller
from portalkit.enums import enum_names
from portalkit.errors import FailedPrecondition, Forbidden, InvalidInput
from protos.cases.v1 import cases_pb2
from protos.identity.v1 import identity_pb2

STATUSES = enum_names(cases_pb2.CaseStatus)
PRIORITIES = enum_names(cases_pb2.CasePriority)
ENVIRONMENTS = enum_names(cases_pb2.Environment)
CHANNELS = enum_names(cases_pb2.CaseChannel)
TEAMS = enum_names(identity_pb2.SupportTeam)
PRIORITY_RANK = {name: rank for rank, name in enumerate(PRIORITIES, start=1)}
FIRST_TEAM = "CUSTOMER_CARE"  # design.md 5.7: new cases land with Customer Care
ROUTED_TO_MANAGER = "CLIENT_SUCCESS"
# A customer's comment on a case waiting for them (or solved) puts it back in the agents' queue.
REOPENED_BY_CUSTOMER = frozenset({"PENDING_CUSTOMER", "SOLVED"})
FIRST_CASE_NUMBER = 100_000
MAX_SUBJECT = 200
MAX_TEXT = 20_000
MAX_SHORT = 200
MAX_ACCOUNT_NUMBERS = 20
MAX_COMMENT = 20_000
MAX_COMMENTS_PER_CASE = 1000

# Attachments: what may be uploaded, and how much (design.md 7, "uploads have size limits").
MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024
MAX_ATTACHMENTS_BYTES = 3 * 1024 * 1024  # per request (one gRPC message stays under 4 MiB)
MAX_ATTACHMENTS = 5
ALLOWED_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".log": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
    ".xml": "application/xml",
    ".zip": "application/zip",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
# Content that must start with these bytes to be what its name says.
MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
    "application/zip": (b"PK\x03\x04", b"PK\x05\x06"),
}
TICKET_SECONDS = 300


# --- who may see and do what (design.md section 4) ------------------------------------------------


def can_read(caller: Caller, case: dict[str, Any]) -> bool:
    """Staff see every case; MANAGER and ADMIN all of their account's; a USER those they opened."""
    if caller.is_staff:
        return True
    if not can_read_account(caller, case.get("account_id") or ""):
        return False
    return caller.role != "USER" or case.get("requester_id") == caller.user_id


def require_staff(caller: Caller, what: str) -> None:
    if not caller.is_staff:
        raise Forbidden(f"only support staff may {what}")


def require_customer(caller: Caller) -> None:
    if caller.is_staff or not caller.account_id:
        raise Forbidden("cases are opened by customer users; staff work on them")


def require_not_closed(case: dict[str, Any]) -> None:
    if case["status"] == "CLOSED":
        raise FailedPrecondition(
            f"case {case['number']} is closed; open a new case and give {case['number']} as its related case",
            reason="CASE_CLOSED",
        )


@dataclass(frozen=True)
class Scope:
    """The cases a caller may list: everything (staff), an account's, or one requester's."""

    account_id: str = ""
    requester_id: str = ""


def scope_of(caller: Caller) -> Scope:
    if caller.is_staff:
        return Scope()
    if not caller.account_id:
        raise Forbidden("no account")
    return Scope(caller.account_id, caller.user_id if caller.role == "USER" else "")


def list_filters(caller: Caller, filters: dict[str, Any]) -> dict[str, Any]:
    """Checked filters (names as the store knows them); `unlinked` is for staff."""
    out = {k: v for k, v in filters.items() if v not in (None, "", [], ())}
    for status in out.get("status", []):
        _member(status, STATUSES, "status")
    if "team" in out:
        _member(out["team"], TEAMS, "team")
    if "priority" in out:
        _member(out["priority"], PRIORITIES, "priority")
    if out.get("unlinked") and not caller.is_staff:
        raise Forbidden("only support staff see unlinked cases")
    if out.get("unlinked") is False:
        del out["unlinked"]
    if "search" in out:
        out["search"] = clean(out["search"], "search", MAX_SHORT)
    return out


# --- input --------------------------------------------------------------------------------------


def _member(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"unknown {what} {value!r}")
    return value


def clean(value: str | None, what: str, limit: int, *, required: bool = False, multiline: bool = False) -> str:
    text = (value or "").strip() if multiline else " ".join((value or "").split())
    if required and not text:
        raise InvalidInput(f"{what} must not be empty")
    if len(text) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    return text


def case_fields(values: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Checked case fields from `values` (only those given when `partial`)."""
    out: dict[str, Any] = {}
    if not partial or values.get("subject") is not None:
        out["subject"] = clean(values.get("subject"), "subject", MAX_SUBJECT, required=True)
    if not partial or values.get("description") is not None:
        out["description"] = clean(values.get("description"), "description", MAX_TEXT, required=True, multiline=True)
    if not partial or values.get("product") is not None:
        out["product"] = clean(values.get("product"), "product", MAX_SHORT)
    if not partial or values.get("error_message") is not None:
        out["error_message"] = clean(values.get("error_message"), "error message", MAX_TEXT, multiline=True)
    if values.get("environment"):
        out["environment"] = _member(values["environment"], ENVIRONMENTS, "environment")
    elif not partial:
        out["environment"] = ""
    if values.get("issue_started_at") is not None or not partial:
        out["issue_started_at"] = values.get("issue_started_at")
    if values.get("account_numbers") is not None or not partial:
        numbers = [clean(n, "account number", 64) for n in values.get("account_numbers") or []]
        numbers = list(dict.fromkeys(n for n in numbers if n))
        if len(numbers) > MAX_ACCOUNT_NUMBERS:
            raise InvalidInput(f"at most {MAX_ACCOUNT_NUMBERS} example account numbers")
        out["account_numbers"] = numbers
    if values.get("priority"):
        out["priority"] = _member(values["priority"], PRIORITIES, "priority")
    elif not partial:
        out["priority"] = "NORMAL"
    if "priority" in out:
        out["priority_rank"] = PRIORITY_RANK[out["priority"]]
    return out


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in after.items() if before.get(k) != v and k != "priority_rank")


def comment_body(body: str) -> str:
    return clean(body, "comment", MAX_COMMENT, required=True, multiline=True)


def check_status(status: str) -> str:
    return _member(status, STATUSES, "status")


def check_team(team: str) -> str:
    return _member(team, TEAMS, "team")


def status_after_comment(case: dict[str, Any], by_customer: bool, internal: bool) -> str:
    if by_customer and not internal and case["status"] in REOPENED_BY_CUSTOMER:
        return "OPEN"
    return str(case["status"])


# --- attachments ----------------------------------------------------------------------------------


def safe_filename(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>:|?*').strip(" .")
    if not name:
        raise InvalidInput("an attachment needs a file name", reason="ATTACHMENT_TYPE_NOT_ALLOWED")
    return name[:150]


def check_attachments(files: list[tuple[str, str, bytes]]) -> list[tuple[str, str, bytes]]:
    """(filename, declared type, content) -> (safe filename, content type, content), or refused:
    too many, too large, or a type outside ALLOWED_TYPES (judged by the name and, where the format
    has one, the content's signature; the declared type is not trusted)."""
    if len(files) > MAX_ATTACHMENTS:
        raise InvalidInput(f"at most {MAX_ATTACHMENTS} attachments at once", reason="TOO_MANY_ATTACHMENTS")
    total = 0
    out = []
    for filename, _declared, content in files:
        name = safe_filename(filename)
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise InvalidInput(
                f"{name} is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB", reason="ATTACHMENT_TOO_LARGE"
            )
        if not content:
            raise InvalidInput(f"{name} is empty", reason="ATTACHMENT_EMPTY")
        total += len(content)
        if total > MAX_ATTACHMENTS_BYTES:
            raise InvalidInput(
                f"attachments over {MAX_ATTACHMENTS_BYTES // (1024 * 1024)} MiB in one request",
                reason="ATTACHMENT_TOO_LARGE",
            )
        extension = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
        content_type = ALLOWED_TYPES.get(extension)
        if content_type is None:
            allowed = ", ".join(sorted(ALLOWED_TYPES))
            raise InvalidInput(
                f"{name}: files of this type are not accepted ({allowed})", reason="ATTACHMENT_TYPE_NOT_ALLOWED"
            )
        if content_type in MAGIC and not content.startswith(MAGIC[content_type]):
            raise InvalidInput(f"{name} is not a {extension} file", reason="ATTACHMENT_TYPE_NOT_ALLOWED")
        if content_type.startswith("text/") or content_type in {"application/json", "application/xml"}:
            try:
                content.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput(f"{name} is not text", reason="ATTACHMENT_TYPE_NOT_ALLOWED") from exc
        out.append((name, content_type, content))
    return out


def guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


# --- numbers, ref tags and download tickets ------------------------------------------------------


def case_number(sequence: int) -> str:
    return f"{FIRST_CASE_NUMBER + sequence:08d}"


def _mac(secret: str, message: str) -> bytes:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()


def ref_tag(secret: str, case_id: str, number: str) -> str:
    """`ref:<number>:<mac>`: the mac binds the number to the case id under the service's secret, so
    a tag cannot be guessed from a number or moved to another case."""
    mac = base64.b32encode(_mac(secret, f"ref|{case_id}|{number}")[:10]).decode().lower()
    return f"ref:{number}:{mac}"


def ref_tag_valid(secret: str, tag: str, case_id: str, number: str) -> bool:
    return hmac.compare_digest(tag, ref_tag(secret, case_id, number))


def download_ticket(secret: str, attachment_id: str, user_id: str, now: datetime) -> str:
    expires = int(now.timestamp()) + TICKET_SECONDS
    payload = f"{attachment_id}|{user_id}|{expires}"
    mac = base64.urlsafe_b64encode(_mac(secret, f"dl|{payload}")[:18]).decode()
    body = base64.urlsafe_b64encode(json.dumps([user_id, expires]).encode()).decode().rstrip("=")
    return f"{body}.{mac}"


def check_download_ticket(secret: str, ticket: str, attachment_id: str, caller: Caller, now: datetime) -> None:
    """The ticket was issued for this attachment to this caller, and has not expired."""
    try:
        body, mac = ticket.split(".", 1)
        user_id, expires = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        expected = base64.urlsafe_b64encode(_mac(secret, f"dl|{attachment_id}|{user_id}|{int(expires)}")[:18]).decode()
    except (ValueError, TypeError) as exc:
        raise Forbidden("invalid download link", reason="DOWNLOAD_LINK_INVALID") from exc
    if not hmac.compare_digest(mac, expected) or user_id != caller.user_id:
        raise Forbidden("this download link was issued to someone else", reason="DOWNLOAD_LINK_INVALID")
    if now.timestamp() > int(expires):
        raise FailedPrecondition("the download link has expired; open the case again", reason="DOWNLOAD_LINK_EXPIRED")


# --- email-to-case (design.md 5.6) ------------------------------------------------------------

QUOTE_STARTS = (
    re.compile(r"^On .{0,200} wrote:\s*$"),
    re.compile(r"^-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^From: .+$"),
)


def may_mail_into(sender: Caller | None, address: str, case: dict[str, Any]) -> bool:
    """A mail may add to (or name as related) a case its sender may see: a portal user by the roles
    matrix; someone who is not one only a case they mailed in themselves that no user holds."""
    if sender is not None:
        return can_read(sender, case)
    return not case.get("requester_id") and str(case.get("requester_email", "")).lower() == address.lower()


def mail_text(text: str, refused: list[str]) -> str:
    notes = [f"[attachment not taken: {reason}]" for reason in refused]
    return "\n\n".join(part for part in [text.strip(), *notes] if part)


def mail_case_fields(subject: str, text: str) -> dict[str, Any]:
    subject = " ".join(subject.split())[:MAX_SUBJECT] or "(no subject)"
    description = text.strip()[:MAX_TEXT] or "(the mail had no text)"
    return case_fields({"subject": subject, "description": description}, partial=False)


def without_quote(text: str) -> str:
    """A reply's own text: the quoted mail below it (On … wrote:, > lines) is left out."""
    kept: list[str] = []
    for line in text.splitlines():
        if any(pattern.match(line.strip()) for pattern in QUOTE_STARTS):
            break
        kept.append(line)
    while kept and kept[-1].lstrip().startswith(">"):
        kept.pop()
    own = "\n".join(line for line in kept if not line.lstrip().startswith(">")).strip()
    return own or text.strip()


def mail_comment_body(text: str, subject: str) -> str:
    body = without_quote(text)[:MAX_COMMENT] or f"(a reply by mail: {subject})"
    return comment_body(body)


# --- knowledge articles ---------------------------------------------------------------------------

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_ARTICLE_BODY = 50_000
MAX_TAGS = 20
MAX_SEARCH_RESULTS = 50


def article_fields(values: dict[str, Any]) -> dict[str, Any]:
    slug = (values.get("slug") or "").strip().lower()
    if not SLUG.fullmatch(slug) or len(slug) > 100:
        raise InvalidInput("slug: lowercase letters, digits and single hyphens, at most 100 characters")
    tags = [clean(t, "tag", 40).lower() for t in values.get("tags") or []]
    tags = list(dict.fromkeys(t for t in tags if t))
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags")
    return {
        "slug": slug,
        "title": clean(values.get("title"), "title", MAX_SUBJECT, required=True),
        "body": clean(values.get("body"), "body", MAX_ARTICLE_BODY, required=True, multiline=True),
        "product": clean(values.get("product"), "product", MAX_SHORT),
        "tags": tags,
    }


def search_size(first: int) -> int:
    return max(1, min(first or 10, MAX_SEARCH_RESULTS))


def vote_counts(previous: bool | None, helpful: bool) -> dict[str, int]:
    """What a user's (new or changed) vote adds to the two counts."""
    counts = {"helpful_count": 0, "not_helpful_count": 0}
    if previous is not None:
        counts["helpful_count" if previous else "not_helpful_count"] -= 1
    counts["helpful_count" if helpful else "not_helpful_count"] += 1
    return counts

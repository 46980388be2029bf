"""Reading an inbound mail (email-to-case, design.md 5.5/5.6): real MIME with the standard library.

Multipart and single-part, quoted-printable and base64, RFC 2047 subjects and names, HTML-only mail
reduced to text, attachments with their (decoded) file names. Also what RFC 3834 asks a responder to
look at: auto-submitted mail and bounces are recognised here and the domain opens nothing for them.
No I/O; no transport.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

# A tag as the mails carry it: ref:<8-digit number>:<16 base32 chars> (rules.ref_tag).
REF_TAG = re.compile(r"ref:(\d{8}):([a-z2-7]{16})", re.IGNORECASE)
# The Message-ID of a mail we sent about a case (events.Mails): <case.<number>.<mac>.<random>@…>
OUR_MESSAGE_ID = re.compile(r"<?case\.(\d{8})\.([a-z2-7]{16})\.[0-9a-f]+@[^>]*>?", re.IGNORECASE)
# An earlier case named in a new mail ("see case 00100012", "#00100012").
CASE_NUMBER = re.compile(r"(?<![\d:])(\d{8})(?![\d:])")
BOUNCE_SENDERS = ("mailer-daemon@", "postmaster@")
BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}


@dataclass(frozen=True)
class MailFile:
    filename: str
    content_type: str
    content: bytes


@dataclass
class InboundMail:
    message_id: str
    sender: str  # the address, lower-cased
    sender_name: str
    subject: str
    text: str
    files: list[MailFile] = field(default_factory=list)
    replied_to: list[str] = field(default_factory=list)  # In-Reply-To, then References (newest first)
    automatic: str = ""  # why this mail must get no reply and open nothing ("" = a person wrote it)

    def ref_tags(self) -> list[tuple[str, str]]:
        """(number, mac) of every ref tag: the subject's first, then the body's, then the headers'."""
        found = [m.groups() for m in REF_TAG.finditer(self.subject)]
        found += [m.groups() for m in REF_TAG.finditer(self.text)]
        for reference in self.replied_to:
            match = OUR_MESSAGE_ID.search(reference)
            if match:
                found.append(match.groups())
        return list(dict.fromkeys((number, mac.lower()) for number, mac in found))

    def case_numbers(self) -> list[str]:
        """Case numbers named in the subject or body (ref tags aside)."""
        text = REF_TAG.sub(" ", f"{self.subject}\n{self.text}")
        return list(dict.fromkeys(CASE_NUMBER.findall(text)))


class _Text(HTMLParser):
    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style", "head"}:
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "head"}:
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text = "\n".join(lines)
    return html.unescape(re.sub(r"\n{3,}", "\n\n", text)).strip()


def _automatic(message: EmailMessage, envelope_sender: str, sender: str) -> str:
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    if message.get_content_type() == "multipart/report":
        return "delivery report"
    if envelope_sender in {"", "<>"}:
        return "null envelope sender (a bounce)"
    if sender.startswith(BOUNCE_SENDERS):
        return f"sent by {sender.split('@')[0]}"
    if str(message.get("Precedence", "")).strip().lower() in BULK_PRECEDENCE:
        return f"Precedence: {message.get('Precedence')}"
    for header in ("X-Autoreply", "X-Autorespond"):
        if header in message:
            return header
    return ""


def parse(raw: bytes, envelope_sender: str = "?") -> InboundMail:
    message = message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    name, address = parseaddr(str(message.get("From", "")))
    if not address and envelope_sender not in {"", "<>", "?"}:
        address = envelope_sender
    sender = address.strip().lower()
    message_id = str(message.get("Message-ID", "")).strip()
    if not message_id:
        message_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    replied = [str(message.get("In-Reply-To", ""))]
    replied += list(reversed(str(message.get("References", "")).split()))
    body = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        content = body.get_content()  # type: ignore[attr-defined]
        text = content if isinstance(content, str) else content.decode("utf-8", "replace")
        if body.get_content_type() == "text/html":
            text = html_to_text(text)
    files: list[MailFile] = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or part.get_content_maintype() == "multipart":
            continue
        filename = part.get_filename() or f"attachment-{len(files) + 1}"
        files.append(MailFile(filename, part.get_content_type(), payload))
    return InboundMail(
        message_id=message_id,
        sender=sender,
        sender_name=" ".join(name.split()),
        subject=" ".join(str(message.get("Subject", "")).split()),
        text=text.replace("\r\n", "\n").strip(),
        files=files,
        replied_to=[r for r in replied if r.strip()],
        automatic=_automatic(message, envelope_sender, sender),
    )


def addresses(value: str) -> list[str]:
    return [address.lower() for _, address in getaddresses([value]) if address]

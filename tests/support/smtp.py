"""Sending mail to the cases service's inbound listener over real SMTP (aiosmtplib)."""

from __future__ import annotations

import uuid
from email.message import EmailMessage

import aiosmtplib


def mail(
    sender: str,
    subject: str,
    text: str,
    *,
    to: str = "support@portal.test",
    html: str = "",
    headers: dict[str, str] | None = None,
    files: list[tuple[str, str, bytes]] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@customer.example>"
    for name, value in (headers or {}).items():
        message[name] = value
    if text:
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
    elif html:
        message.set_content(html, subtype="html")
    for filename, content_type, content in files or []:
        maintype, subtype = content_type.split("/", 1)
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message


async def deliver(port: int, message: EmailMessage, envelope_sender: str | None = None) -> str:
    """Hand the mail to the listener as a mail server would (envelope sender: the From address unless
    given; "" is the null sender of a bounce); returns the server's final reply text."""
    sender = envelope_sender if envelope_sender is not None else str(message["From"]).split("<")[-1].rstrip(">")
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=20) as client:
        _, response = await client.sendmail(sender, ["support@portal.test"], bytes(message))
    return response

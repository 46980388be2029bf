"""Outgoing mail: SMTP when `PORTAL_SMTP_URL` is set, else .eml files in a local folder."""

from __future__ import annotations

import asyncio
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import aiosmtplib

from portalkit.telemetry import tracer


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def build_message(sender: str, to: str, subject: str, text: str, headers: dict[str, str] | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4()}@portal>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    return message


def message_to_outbox(message: EmailMessage) -> dict[str, Any]:
    return {"raw": message.as_string()}


def message_from_outbox(entry: dict[str, Any]) -> EmailMessage:
    from email import message_from_string
    from email.policy import default

    parsed = message_from_string(entry["raw"], policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


class SmtpMailer:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parsed = urlparse(url)
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port or 25
        self._username = parsed.username
        self._password = parsed.password
        self._use_tls = parsed.scheme == "smtps"
        self._timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        with tracer(__name__).start_as_current_span("smtp.send", attributes={"server.address": self._host}):
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._use_tls,
                timeout=self._timeout,
            )


class FolderMailer:
    """Writes each message as an .eml file: the embedded run's mailbox."""

    def __init__(self, folder: str) -> None:
        self._folder = Path(folder)

    async def send(self, message: EmailMessage) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._folder / f"{uuid.uuid4()}.eml"
        await asyncio.to_thread(path.write_bytes, bytes(message))


def mailer_from_settings(smtp_url: str, mail_dir: str) -> Mailer:
    return SmtpMailer(smtp_url) if smtp_url else FolderMailer(mail_dir)

"""A real SMTP server (aiosmtpd) that keeps every message it receives, for tests to read."""

from __future__ import annotations

import asyncio
import re
import socket
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content, policy=default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


class Mailbox:
    def __init__(self) -> None:
        self.port = free_port()  # Controller(port=0) fails its ready check (stack-notes.md)
        self._collector = _Collector()
        self._controller = Controller(self._collector, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return self._collector.messages

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    async def wait_for(
        self, address: str, subject_contains: str = "", count: int = 1, timeout: float = 10
    ) -> list[EmailMessage]:
        """The messages to `address` (whose subject contains the text) once there are `count`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [m for m in self.to(address) if subject_contains.lower() in str(m["Subject"]).lower()]
            if len(found) >= count:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no mail to {address} with {subject_contains!r} (have {len(found)})")
            await asyncio.sleep(0.05)


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""  # type: ignore[union-attr]


def token_from(message: EmailMessage) -> str:
    match = re.search(r"token=([A-Za-z0-9_\-]+)", body_of(message))
    assert match, "no token link in the mail"
    return match.group(1)

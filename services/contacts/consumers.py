"""The events the contacts service consumes: its consumer table (empty until its domain needs one)."""

from __future__ import annotations

from portalkit.consumers import Consumer
from services.contacts.domain import Contacts


def consumers(domain: Contacts) -> list[Consumer]:
    return []

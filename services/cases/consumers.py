"""The events the cases service consumes: its consumer table (empty until its domain needs one)."""

from __future__ import annotations

from portalkit.consumers import Consumer
from services.cases.domain import Cases


def consumers(domain: Cases) -> list[Consumer]:
    return []

"""Cases operations, callable without a server (no gRPC, no Mongo here: see store.py)."""

from __future__ import annotations

from typing import Any

from portalkit.auth import Caller
from portalkit.batch import batch_get
from services.cases import rules
from services.cases.store import CasesStore


class Cases:
    def __init__(self, store: CasesStore) -> None:
        self.store = store

    async def get_cases(self, caller: Caller, ids: list[str]) -> list[dict[str, Any]]:
        return await batch_get(ids, self.store.get_cases, lambda doc: rules.can_read(caller, doc))

"""Which documents the gateway runs: automatic persisted queries (a client sends the sha256 of a
document it sent before, as Apollo's PersistedQueryLink does) and, for production, trusted documents
(PORTAL_TRUSTED_DOCUMENTS: only the front ends' own operations run, by hash or by text).

Documents are known by the sha256 of their text, the same key the gateway's parse/validate cache
uses, so a persisted query is parsed and validated once.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

from gateway.errors import PortalError

APQ_CACHE_SIZE = 10_000


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PersistedQueryNotFound(PortalError):
    """Apollo's signal to resend the hash with the document's text (its own code, which clients
    look for; not one of the contract's error codes)."""

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")


def load_trusted(path: str) -> dict[str, str]:
    """hash -> document from a folder of .graphql/.gql files, or a JSON manifest: Apollo's
    (`{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}]}`) or a plain
    `{hash: document}` map. Every hash is checked against its text."""
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    documents: dict[str, str] = {}
    for file in files:
        if file.suffix in (".graphql", ".gql"):
            text = file.read_text()
            documents[sha256(text)] = text
        elif file.suffix == ".json":
            manifest: Any = json.loads(file.read_text())
            pairs = (
                [(op["id"], op["body"]) for op in manifest["operations"]]
                if isinstance(manifest, dict) and "operations" in manifest
                else list(manifest.items())
            )
            for declared, text in pairs:
                if sha256(text) != declared:
                    raise ValueError(f"{file}: the hash {declared} does not match its document")
                documents[declared] = text
    if not documents:
        raise ValueError(f"PORTAL_TRUSTED_DOCUMENTS={path}: no documents found")
    return documents


class Documents:
    """Resolves the document of a request. `trusted` None: any document, plus APQ."""

    def __init__(self, trusted: dict[str, str] | None = None) -> None:
        self.trusted = trusted
        self._persisted: OrderedDict[str, str] = OrderedDict()

    def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The document to run (None: let the view report the missing query)."""
        persisted = (extensions or {}).get("persistedQuery")
        wanted = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if wanted is not None and not isinstance(wanted, str):
            raise PortalError("persistedQuery.sha256Hash must be a string", "BAD_USER_INPUT", "INVALID_REQUEST")
        if query is not None and wanted is not None and sha256(query) != wanted:
            raise PortalError("persistedQuery.sha256Hash does not match the query", "BAD_USER_INPUT", "HASH_MISMATCH")
        if self.trusted is not None:
            key = wanted or (sha256(query) if query is not None else None)
            if key is None:
                return None
            if key not in self.trusted:
                raise PortalError("only the front ends' trusted documents run here", "FORBIDDEN", "UNTRUSTED_DOCUMENT")
            return self.trusted[key]
        if wanted is None:
            return query
        if query is not None:
            self._remember(wanted, query)
            return query
        known = self._persisted.get(wanted)
        if known is None:
            raise PersistedQueryNotFound()
        self._persisted.move_to_end(wanted)
        return known

    def _remember(self, key: str, query: str) -> None:
        self._persisted[key] = query
        self._persisted.move_to_end(key)
        if len(self._persisted) > APQ_CACHE_SIZE:
            self._persisted.popitem(last=False)

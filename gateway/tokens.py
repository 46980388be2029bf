"""Verified access-token claims, remembered until the token expires.

The gateway checks a token's signature itself (each service checks it again). A front end sends
the same token on every request for up to 10 minutes, so the claims of a verified token are kept
in a bounded LRU until its `exp`: the same semantics as verifying each time (the gateway never
checked sessions; identity and the services still do on their side), without the EdDSA work.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

import jwt

from portalkit.auth import Caller, TokenVerifier

CACHED_TOKENS = 10_000


class Verifier(Protocol):
    async def verify(self, token: str) -> Caller: ...


class CachedVerifier:
    def __init__(self, verifier: TokenVerifier, size: int = CACHED_TOKENS) -> None:
        self._verifier = verifier
        self._size = size
        self._claims: OrderedDict[str, tuple[Caller, float]] = OrderedDict()

    async def verify(self, token: str) -> Caller:
        cached = self._claims.get(token)
        if cached is not None and cached[1] > time.time():
            self._claims.move_to_end(token)
            return cached[0]
        caller = await self._verifier.verify(token)  # raises for a bad or expired token
        expires = float(jwt.decode(token, options={"verify_signature": False}).get("exp", 0))
        self._claims[token] = (caller, expires)
        if len(self._claims) > self._size:
            self._claims.popitem(last=False)
        return caller

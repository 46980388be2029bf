"""The demo users' access tokens, each logged in once per test session and then reused.

Logging in is the slowest call a test makes (a password hash); most tests only need *a* valid token.
Tests that exercise login itself, or that log a demo user out or revoke its sessions, must log in on
their own (`gql.login`), so the shared tokens stay valid for everyone else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

DEMO_PASSWORD = "portal-demo-pass"
# role name -> demo user; OTHER_ADMIN is the ADMIN of another account than Acme
DEMO_USERS = {
    "USER": "user@acme.test",
    "MANAGER": "manager@acme.test",
    "ADMIN": "admin@acme.test",
    "OTHER_ADMIN": "admin@globex.test",
    "AGENT": "agent@support.test",
    "SUPPORT_ADMIN": "root@support.test",
}
# access tokens live 10 minutes: renewing at half that leaves any test ample time
MAX_AGE_SECONDS = 300.0


class DemoTokens:
    """`await tokens("admin@acme.test")` or `await tokens.as_role("ADMIN")`: a valid access token."""

    def __init__(
        self,
        login: Callable[[str, str], Awaitable[str]],
        clock_offset: Callable[[], timedelta] = timedelta,
        *,
        max_age_seconds: float = MAX_AGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._login = login
        self._clock_offset = clock_offset
        self._max_age = max_age_seconds
        self._monotonic = monotonic
        self._cache: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.logins = 0  # how many real logins happened, for the harness's own test

    async def __call__(self, email: str) -> str:
        if email not in DEMO_USERS.values():
            raise KeyError(f"{email} is not a demo user; log other users in with gql.token")
        if self._clock_offset():
            # a test moved the stack's clock: a token issued now carries the moved time, so it is
            # neither taken from nor put into the cache
            return await self._fresh(email)
        async with self._locks.setdefault(email, asyncio.Lock()):
            cached = self._cache.get(email)
            if cached is not None and self._monotonic() - cached[1] < self._max_age:
                return cached[0]
            issued_at = self._monotonic()
            token = await self._fresh(email)
            self._cache[email] = (token, issued_at)
            return token

    async def as_role(self, role: str) -> str:
        return await self(DEMO_USERS[role])

    def forget(self, email: str) -> None:
        """Drop a cached token, e.g. after a test revoked that user's sessions on purpose."""
        self._cache.pop(email, None)

    async def _fresh(self, email: str) -> str:
        self.logins += 1
        return await self._login(email, DEMO_PASSWORD)

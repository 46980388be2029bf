"""The gateway's cache of verified token claims: reused until the token expires, never for a token
that failed, bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.tokens import CachedVerifier
from portalkit.auth import Caller, TokenIssuer, TokenVerifier
from portalkit.errors import Unauthenticated

ALICE = Caller("usr_a", "USER", "acc_1", "ses_1")


def _verifier(issuer: TokenIssuer) -> tuple[TokenVerifier, list[str]]:
    fetched: list[str] = []

    async def keys():
        fetched.append("keys")
        return [issuer.public_key]

    verifier = TokenVerifier(keys)
    calls: list[str] = []
    original = verifier.verify

    async def counting(token: str) -> Caller:
        calls.append(token)
        return await original(token)

    verifier.verify = counting  # type: ignore[method-assign]
    return verifier, calls


async def test_a_verified_token_is_verified_once_until_it_expires():
    issuer = TokenIssuer()
    verifier, calls = _verifier(issuer)
    cached = CachedVerifier(verifier)
    token, _ = issuer.issue(ALICE, datetime.now(UTC), timedelta(minutes=5))
    assert await cached.verify(token) == ALICE and await cached.verify(token) == ALICE
    assert calls == [token]
    expired, _ = issuer.issue(ALICE, datetime.now(UTC) - timedelta(minutes=20), timedelta(minutes=5))
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await cached.verify(expired)
    assert calls.count(expired) == 2  # a refusal is never remembered
    forged, _ = TokenIssuer().issue(ALICE, datetime.now(UTC), timedelta(minutes=5))
    with pytest.raises(Unauthenticated):
        await cached.verify(forged)


async def test_the_cache_is_bounded():
    issuer = TokenIssuer()
    verifier, calls = _verifier(issuer)
    cached = CachedVerifier(verifier, size=2)
    tokens = [
        issuer.issue(Caller(f"usr_{n}", "USER", "acc", "s"), datetime.now(UTC), timedelta(minutes=5))[0]
        for n in range(3)
    ]
    for token in tokens:
        await cached.verify(token)
    await cached.verify(tokens[0])  # pushed out by the third: verified again
    assert calls == [*tokens, tokens[0]]

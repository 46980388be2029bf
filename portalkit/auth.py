"""Access tokens: identity signs them (EdDSA), every service verifies them itself.

Only identity holds the private key; the others fetch the public keys from identity's
`GetSigningKeys` (a fresh read with a deadline, cached, refreshed when an unknown key id shows up),
so no service trusts a bare header and none can mint a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from portalkit.errors import Unauthenticated

ISSUER = "portal-identity"
AUDIENCE = "portal"
ALGORITHM = "EdDSA"
STAFF_ROLES = frozenset({"AGENT", "SUPPORT_ADMIN"})


@dataclass(frozen=True)
class Caller:
    """The verified identity behind a request."""

    user_id: str
    role: str
    account_id: str  # empty for staff
    session_id: str
    team: str = ""

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    pem: str


class TokenIssuer:
    def __init__(self, private_key_pem: str = "") -> None:
        if private_key_pem:
            key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("PORTAL_JWT_PRIVATE_KEY must be an Ed25519 key")
            self._key = key
        else:
            self._key = Ed25519PrivateKey.generate()
        public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = PublicKey(hashlib.sha256(public_pem).hexdigest()[:16], public_pem.decode())

    def issue(self, caller: Caller, now: datetime, ttl: timedelta) -> tuple[str, datetime]:
        expires_at = now + ttl
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": caller.user_id,
            "role": caller.role,
            "acc": caller.account_id,
            "sid": caller.session_id,
            "team": caller.team,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.public_key.key_id})
        return token, expires_at


KeySource = Callable[[], Awaitable[Sequence[PublicKey]]]


class TokenVerifier:
    """Verifies signature, issuer, audience and expiry. Keys come from `key_source`.

    The key set is only replaced by a fetch that succeeded; an unknown key id triggers a refetch, at
    most one per `refresh_interval` after a success, at once after a failure (so identity being
    unreachable once does not lock valid tokens out)."""

    def __init__(self, key_source: KeySource, refresh_interval: float = 30.0) -> None:
        self._key_source = key_source
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at = float("-inf")  # last successful fetch
        self._failed_at = float("-inf")  # last failed fetch
        self._refresh_interval = refresh_interval
        self._lock = asyncio.Lock()
        self._last_error: Exception | None = None

    def _may_fetch(self, asked_at: float) -> bool:
        """At most one fetch per interval after a success; after a failure, the next request that
        arrived after it tries again (single flight: waiters share the outcome of the fetch in progress)."""
        return time.monotonic() - self._fetched_at > self._refresh_interval and self._failed_at < asked_at

    async def refresh(self) -> None:
        """Fetch the keys now; on failure the old set stays and the error is raised."""
        try:
            fetched = await self._key_source()
        except Exception as exc:
            self._failed_at = time.monotonic()
            self._last_error = exc
            raise
        keys = {}
        for key in fetched:
            loaded = serialization.load_pem_public_key(key.pem.encode())
            if isinstance(loaded, Ed25519PublicKey):
                keys[key.key_id] = loaded
        self._keys = keys
        self._fetched_at = time.monotonic()
        self._last_error = None

    async def ready(self) -> bool:
        """Readiness: signing keys are at hand (fetched once, or fetchable now)."""
        if self._keys:
            return True
        asked_at = time.monotonic()
        async with self._lock:
            if not self._keys and self._may_fetch(asked_at):
                with contextlib.suppress(Exception):
                    await self.refresh()
        return bool(self._keys)

    async def _key(self, key_id: str) -> Ed25519PublicKey | None:
        asked_at = time.monotonic()
        if key_id not in self._keys and self._may_fetch(asked_at):
            async with self._lock:
                if key_id not in self._keys and self._may_fetch(asked_at):
                    await self.refresh()
        if key_id not in self._keys and self._last_error is not None:
            raise self._last_error  # identity unreachable: not the token's fault
        return self._keys.get(key_id)

    async def verify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
            key = await self._key(str(header.get("kid", "")))
            if key is None or header.get("alg") != ALGORITHM:
                raise Unauthenticated("invalid access token")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "sid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("access token expired", reason="TOKEN_EXPIRED") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("invalid access token") from exc
        return Caller(
            user_id=claims["sub"],
            role=claims.get("role", ""),
            account_id=claims.get("acc", ""),
            session_id=claims["sid"],
            team=claims.get("team", ""),
        )


def bearer_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value.removeprefix("Bearer ").strip()
    return ""


def hash_secret(secret: str) -> str:
    """Tokens we hand out (refresh, invitation, reset) are stored only as this hash."""
    return hashlib.sha256(secret.encode()).hexdigest()

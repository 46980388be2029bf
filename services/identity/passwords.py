"""Password hashes: the service's own (argon2id, argon2-cffi) and those imported from a previous
portal (design.md flow 12), read and verified by libpass, the maintained fork of passlib.

An imported hash is only *parsed* at import (cheap): its format and cost are checked so that a bad
row is refused at once and a login can never be made to burn minutes of CPU. It is verified at the
user's first login and then replaced by an argon2id hash with the service's parameters.

Accepted encodings:
- bcrypt: `$2a$`, `$2b$` (and `$2y$`, the same algorithm under PHP's name), cost 4 to 14
- argon2: `$argon2id$` (and `$argon2i$`), at most 256 MiB, 16 passes, 16 lanes
- PBKDF2-SHA256: Django's `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` and passlib's
  `$pbkdf2-sha256$<iterations>$<salt>$<hash>`, at most 2,000,000 iterations

Nothing here puts a hash, or any part of one, into an error message.
"""

from __future__ import annotations

import warnings
from typing import Any

from passlib.context import CryptContext

from portalkit.errors import InvalidInput

SERVICE_PREFIX = "$argon2id$"
MAX_HASH_LENGTH = 512
MAX_BCRYPT_COST = 14
MAX_PBKDF2_ITERATIONS = 2_000_000
MAX_ARGON2_MEMORY_KIB = 256 * 1024
MAX_ARGON2_PASSES = 16
MAX_ARGON2_LANES = 16
BCRYPT_MAX_BYTES = 72  # bcrypt reads no further; the previous system never did either

# scheme (passlib's name) -> the prefixes accepted for it
PREFIXES = {
    "bcrypt": ("$2a$", "$2b$", "$2y$"),
    "argon2": ("$argon2id$", "$argon2i$"),
    "django_pbkdf2_sha256": ("pbkdf2_sha256$",),
    "pbkdf2_sha256": ("$pbkdf2-sha256$",),
}
SUPPORTED = (
    "bcrypt ($2a$, $2b$, $2y$), argon2 ($argon2id$, $argon2i$) or PBKDF2-SHA256 "
    "(pbkdf2_sha256$<iterations>$<salt>$<hash> or $pbkdf2-sha256$<iterations>$<salt>$<hash>)"
)
_imported = CryptContext(schemes=list(PREFIXES))


def is_service_hash(password_hash: str) -> bool:
    """argon2id, which the service's own hasher verifies (whatever its parameters)."""
    return password_hash.startswith(SERVICE_PREFIX)


def check_imported(password_hash: str) -> str:
    """The scheme of a hash from the previous system, or InvalidInput saying what is wrong with it
    (never quoting it). Parses only: no verification, so it costs microseconds."""
    if (
        not password_hash
        or len(password_hash) > MAX_HASH_LENGTH
        or not password_hash.isascii()
        or not password_hash.isprintable()
        or any(c.isspace() for c in password_hash)
    ):
        raise InvalidInput(f"passwordHash is not in a supported format: give {SUPPORTED}", reason="UNSUPPORTED_HASH")
    scheme = next((s for s, prefixes in PREFIXES.items() if password_hash.startswith(prefixes)), None)
    if scheme is None:
        raise InvalidInput(f"passwordHash is not in a supported format: give {SUPPORTED}", reason="UNSUPPORTED_HASH")
    label = _LABELS[scheme]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. bcrypt padding bits that no real bcrypt writes
            parsed = _imported.handler(scheme).from_string(password_hash)
    except (ValueError, TypeError, Warning):
        raise InvalidInput(f"passwordHash is a malformed {label} hash", reason="MALFORMED_HASH") from None
    if not parsed.checksum:
        raise InvalidInput(f"passwordHash is a malformed {label} hash (it has no hash part)", reason="MALFORMED_HASH")
    _check_cost(scheme, parsed)
    return scheme


_LABELS = {
    "bcrypt": "bcrypt",
    "argon2": "argon2",
    "django_pbkdf2_sha256": "PBKDF2-SHA256",
    "pbkdf2_sha256": "PBKDF2-SHA256",
}


def _check_cost(scheme: str, parsed: Any) -> None:
    """A cost the login could not afford (or a denial of service waiting for the first login)."""
    if scheme == "bcrypt" and parsed.rounds > MAX_BCRYPT_COST:
        raise InvalidInput(f"bcrypt cost above {MAX_BCRYPT_COST} is not accepted", reason="HASH_TOO_COSTLY")
    if scheme in ("django_pbkdf2_sha256", "pbkdf2_sha256") and parsed.rounds > MAX_PBKDF2_ITERATIONS:
        raise InvalidInput(
            f"PBKDF2 with more than {MAX_PBKDF2_ITERATIONS} iterations is not accepted", reason="HASH_TOO_COSTLY"
        )
    if scheme == "argon2" and (
        parsed.memory_cost > MAX_ARGON2_MEMORY_KIB
        or parsed.rounds > MAX_ARGON2_PASSES
        or parsed.parallelism > MAX_ARGON2_LANES
    ):
        raise InvalidInput(
            f"argon2 is not accepted above memory {MAX_ARGON2_MEMORY_KIB} KiB, {MAX_ARGON2_PASSES} passes or "
            f"{MAX_ARGON2_LANES} lanes",
            reason="HASH_TOO_COSTLY",
        )


def verify_imported(password_hash: str, password: str) -> bool:
    """Blocking (run it in a thread). False for a wrong password and for anything unreadable."""
    try:
        scheme = check_imported(password_hash)
    except InvalidInput:
        return False
    secret: str | bytes = password
    if scheme == "bcrypt":
        secret = password.encode()[:BCRYPT_MAX_BYTES]
    try:
        return bool(_imported.handler(scheme).verify(secret, password_hash))
    except (ValueError, TypeError):
        return False

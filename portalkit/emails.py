"""Email addresses as every service compares and stores them."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from portalkit.errors import InvalidInput


def normalize_email(raw: str) -> str:
    """NFKC first, so a full-width look-alike of `user@acme.test` is the address it imitates, then
    syntax-checked and lower-cased. Raises InvalidInput with a readable message."""
    text = unicodedata.normalize("NFKC", raw).strip()
    try:
        # test_environment: the demo data lives on the special-use .test domain
        return validate_email(text, check_deliverability=False, test_environment=True).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidInput(f"invalid email address: {exc}", reason="INVALID_EMAIL") from exc

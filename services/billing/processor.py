"""The payment processor adapter, and the bundled sandbox processor (design.md section 7).

Billing hands card and bank data to the processor once, when a method is added, and keeps only
what comes back: a token, the brand (or bank), the last four digits and the expiry. Charges are made
against the token. Another processor is another class with the same three methods.

The sandbox follows the usual test-card conventions, so the whole flow runs without an outside
service:
- 4242 4242 4242 4242 (and any other valid number) is accepted and charges succeed;
- 4000 0000 0000 0002 is accepted when added and declined at charge time ("card_declined");
- 4000 0000 0000 9995 is declined at charge time for insufficient funds;
- bank accounts (any account number with a valid ABA routing number) are accepted; account number
  000111222 is declined at charge time.
The outcome is carried in the sandbox token itself (never the number), so it survives restarts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

DECLINED_CARDS = {"4000000000000002": "declined", "4000000000009995": "nsf"}
DECLINED_ACCOUNTS = {"000111222": "closed"}
BANK_NAMES = {"011000015": "Federal Reserve Bank", "110000000": "Sandbox Bank", "021000021": "JPMorgan Chase"}
FAILURE_TEXT = {
    "declined": "Your card was declined.",
    "nsf": "Your card has insufficient funds.",
    "closed": "The bank account is closed.",
}


@dataclass(frozen=True)
class Tokenized:
    token: str
    last4: str
    brand: str = ""
    bank_name: str = ""
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True)
class Charge:
    succeeded: bool
    reference: str = ""
    failure_reason: str = ""


class PaymentProcessor(Protocol):
    method_types: list[str]

    async def tokenize_card(self, digits: str, exp_month: int, exp_year: int, cvc: str, brand: str) -> Tokenized: ...

    async def tokenize_bank_account(self, routing: str, account: str, holder: str) -> Tokenized: ...

    async def charge(self, token: str, amount: Decimal, currency: str, idempotency_key: str) -> Charge: ...


class SandboxProcessor:
    """The bundled processor: no network, test-card conventions (see the module docstring)."""

    def __init__(self, method_types: list[str] | None = None) -> None:
        self.method_types = method_types or ["CARD", "BANK_ACCOUNT"]
        self._charges: dict[str, Charge] = {}  # by idempotency key, as a real processor dedupes

    async def tokenize_card(self, digits: str, exp_month: int, exp_year: int, cvc: str, brand: str) -> Tokenized:
        outcome = DECLINED_CARDS.get(digits, "ok")
        token = f"tok_sandbox_{outcome}_{uuid.uuid4().hex}"
        return Tokenized(token, digits[-4:], brand=brand, exp_month=exp_month, exp_year=exp_year)

    async def tokenize_bank_account(self, routing: str, account: str, holder: str) -> Tokenized:
        outcome = DECLINED_ACCOUNTS.get(account, "ok")
        token = f"btok_sandbox_{outcome}_{uuid.uuid4().hex}"
        return Tokenized(token, account[-4:], bank_name=BANK_NAMES.get(routing, "Bank account"))

    async def charge(self, token: str, amount: Decimal, currency: str, idempotency_key: str) -> Charge:
        if idempotency_key in self._charges:
            return self._charges[idempotency_key]
        outcome = token.split("_")[2] if token.count("_") >= 3 else "declined"
        if outcome == "ok":
            result = Charge(True, reference=f"ch_sandbox_{uuid.uuid4().hex[:16]}")
        else:
            result = Charge(False, failure_reason=FAILURE_TEXT.get(outcome, "The payment was declined."))
        self._charges[idempotency_key] = result
        return result

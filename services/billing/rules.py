"""Billing rules (design.md sections 4, 5.8-5.10, 7): who may do what, money, Eastern-time dates and
OVERDUE, card and bank-account checks. No I/O here.

Money is `Decimal` in Python and integer minor units (cents) in the store; dates a customer sees
(invoice date, due date, usage date) are calendar dates in US Eastern time, as the portal's users
see them, whatever the offset of the day (EST/EDT).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from portalkit.access import can_read_account, is_support_admin
from portalkit.auth import STAFF_ROLES, Caller
from portalkit.errors import FailedPrecondition, Forbidden, InvalidInput

EASTERN = ZoneInfo("America/New_York")
CENT = Decimal("0.01")
MAX_TEXT = 200
MAX_LINES = 50  # per invoice; the gateway's cost estimate counts Invoice.lines as at most this
MAX_USAGE_ROWS = 1000
EXPORT_ROW_LIMIT = 1000
INVOICE_STATUSES = frozenset({"OPEN", "PARTIALLY_PAID", "PAID", "VOID"})  # as stored
PAYABLE = frozenset({"OPEN", "PARTIALLY_PAID"})  # stored statuses; OVERDUE is one of these, late
CUSTOMER_ROLES = frozenset({"USER", "MANAGER", "ADMIN"})


# --- who may do what ---------------------------------------------------------------------------


def can_read(caller: Caller, doc: dict[str, Any]) -> bool:
    """Invoices, credits, payments, usage, payment methods: the whole account, and staff."""
    return can_read_account(caller, doc.get("account_id", ""))


def account_of(caller: Caller, account_id: str) -> str:
    """The account a request is about: customers always their own; staff must name one."""
    if caller.role in STAFF_ROLES:
        if not account_id:
            raise InvalidInput("staff must name the account (accountId)")
        return account_id
    if account_id and account_id != caller.account_id:
        raise Forbidden("not your account")
    return caller.account_id


def require_read(caller: Caller, account_id: str) -> None:
    if not can_read_account(caller, account_id):
        raise Forbidden("not your account")


def may_pay(caller: Caller, account_id: str) -> bool:
    """Every portal user of the account pays, manages payment methods, autopay and exports (seed 004);
    staff read only."""
    return caller.role in CUSTOMER_ROLES and bool(account_id) and caller.account_id == account_id


def require_pay(caller: Caller, account_id: str) -> None:
    if not may_pay(caller, account_id):
        if caller.is_staff:
            raise Forbidden("staff may read billing but not pay or change it for a customer")
        raise Forbidden("not your account")


def require_back_office(caller: Caller) -> None:
    if not is_support_admin(caller):
        raise Forbidden("only a support administrator may issue invoices and record usage")


# --- money -------------------------------------------------------------------------------------


def decimal_of(raw: str | Decimal, what: str) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation as exc:
        raise InvalidInput(f"{what} is not a decimal number") from exc
    if not value.is_finite():
        raise InvalidInput(f"{what} is not a decimal number")
    return value


def to_minor(amount: Decimal) -> int:
    return int((amount.quantize(CENT, rounding=ROUND_HALF_UP) * 100).to_integral_value())


def from_minor(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(CENT)


def money_text(minor: int) -> str:
    return str(from_minor(minor))


def clean_currency(raw: str) -> str:
    currency = (raw or "USD").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInput("currency must be a three-letter ISO code")
    return currency


def invoice_lines(lines: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Checked lines, each with its amount in minor units, and the total."""
    if not lines:
        raise InvalidInput("an invoice needs at least one line")
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"at most {MAX_LINES} lines")
    out, total = [], 0
    for line in lines:
        quantity = decimal_of(line["quantity"], "quantity")
        unit_price = decimal_of(line["unit_price"], "unitPrice")
        if quantity <= 0 or unit_price < 0:
            raise InvalidInput("quantity must be positive and unitPrice not negative")
        amount = to_minor(quantity * unit_price)
        total += amount
        out.append(
            {
                "description": clean_text(line.get("description"), "description", required=True),
                "quantity": str(quantity.normalize()) if quantity == quantity.to_integral() else str(quantity),
                "unit_price_minor": to_minor(unit_price),
                "amount_minor": amount,
            }
        )
    if total <= 0:
        raise InvalidInput("an invoice total must be positive")
    return out, total


# --- Eastern dates and statuses ------------------------------------------------------------------


def eastern_today(now: datetime) -> date:
    return now.astimezone(EASTERN).date()


def parse_date(raw: str, what: str) -> date:
    try:
        return date.fromisoformat(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be a date (YYYY-MM-DD)") from exc


def optional_date(raw: str, what: str) -> str:
    return parse_date(raw, what).isoformat() if raw else ""


def invoice_status(invoice: dict[str, Any], today: date) -> str:
    """The status a customer sees: an unpaid invoice is OVERDUE from the day after its due date
    (US Eastern), so one due today is not overdue at 23:30 Eastern and is at 00:30 the next day."""
    stored = str(invoice.get("status") or "OPEN")
    if stored not in INVOICE_STATUSES:
        stored = "OPEN"
    if stored in PAYABLE and invoice.get("due_date") and str(invoice["due_date"]) < today.isoformat():
        return "OVERDUE"
    return stored


def balance_minor(invoice: dict[str, Any]) -> int:
    if invoice.get("status") == "VOID":
        return 0
    return int(invoice.get("total_minor", 0)) - int(invoice.get("paid_minor", 0))


def is_payable(invoice: dict[str, Any]) -> bool:
    return invoice.get("status") in PAYABLE and balance_minor(invoice) > 0


def status_after_payment(invoice: dict[str, Any], paid_minor: int) -> str:
    return "PAID" if paid_minor >= int(invoice["total_minor"]) else "PARTIALLY_PAID"


# --- input ---------------------------------------------------------------------------------------


def clean_text(value: str | None, what: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    text = " ".join((value or "").split())
    if required and not text:
        raise InvalidInput(f"{what} must not be empty")
    if len(text) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    return text


def usage_id(account_id: str, external_id: str) -> str:
    """A usage record's id follows from (account, externalId): recording it again is the same record."""
    return "usg_" + hashlib.sha256(f"{account_id}\x00{external_id}".encode()).hexdigest()[:24]


def payment_fingerprint(account_id: str, method_id: str, invoice_ids: list[str]) -> str:
    """What an idempotency key is bound to: the same key with other input is a CONFLICT."""
    body = json.dumps([account_id, method_id, sorted(invoice_ids)])
    return hashlib.sha256(body.encode()).hexdigest()


def payment_invoice_ids(invoice_ids: list[str]) -> list[str]:
    ids = list(dict.fromkeys(i for i in invoice_ids if i))
    if not ids:
        raise InvalidInput("choose at least one invoice to pay")
    if len(ids) > 100:
        raise InvalidInput("at most 100 invoices per payment")
    return ids


def require_payable(invoices: list[dict[str, Any]], wanted: list[str]) -> None:
    found = {i["_id"] for i in invoices}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InvalidInput(f"unknown invoice {missing[0]}", reason="INVOICE_NOT_FOUND")
    for invoice in invoices:
        if not is_payable(invoice):
            raise FailedPrecondition(
                f"invoice {invoice['number']} is not open for payment", reason="INVOICE_NOT_PAYABLE"
            )


def require_method_type(kind: str, allowed: list[str]) -> None:
    if kind not in allowed:
        raise FailedPrecondition(
            f"this account may not add a {kind.lower().replace('_', ' ')}: the payment processor takes "
            + ", ".join(a.lower().replace("_", " ") for a in allowed),
            reason="PAYMENT_METHOD_TYPE_NOT_ALLOWED",
        )


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str:
    if digits.startswith("4"):
        return "Visa"
    if digits[:2] in {"51", "52", "53", "54", "55"} or "2221" <= digits[:4] <= "2720":
        return "Mastercard"
    if digits[:2] in {"34", "37"}:
        return "American Express"
    if digits.startswith("6011") or digits.startswith("65"):
        return "Discover"
    return "Card"


def check_card(number: str, exp_month: int, exp_year: int, cvc: str, name: str, today: date) -> str:
    """The card's digits, checked (Luhn, expiry not past in Eastern time, CVC, name). The messages
    never repeat the number or the CVC."""
    digits = "".join(number.split()).replace("-", "")
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_ok(digits):
        raise InvalidInput("the card number is not valid", reason="INVALID_CARD_NUMBER")
    if not 1 <= exp_month <= 12 or exp_year < 2000 or exp_year > today.year + 20:
        raise InvalidInput("the expiry date is not valid", reason="INVALID_EXPIRY")
    if (exp_year, exp_month) < (today.year, today.month):
        raise InvalidInput("the card has expired", reason="CARD_EXPIRED")
    wanted = 4 if card_brand(digits) == "American Express" else 3
    if not cvc.isdigit() or len(cvc) != wanted:
        raise InvalidInput(f"the security code must be {wanted} digits", reason="INVALID_CVC")
    clean_text(name, "name on card", required=True)
    return digits


def aba_routing_ok(routing: str) -> bool:
    if len(routing) != 9 or not routing.isdigit():
        return False
    d = [int(c) for c in routing]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def check_bank_account(routing: str, account: str, holder: str) -> tuple[str, str]:
    routing, account = routing.strip(), account.strip()
    if not aba_routing_ok(routing):
        raise InvalidInput("the routing number is not valid", reason="INVALID_ROUTING_NUMBER")
    if not account.isdigit() or not 4 <= len(account) <= 17:
        raise InvalidInput("the account number must be 4 to 17 digits", reason="INVALID_ACCOUNT_NUMBER")
    clean_text(holder, "account holder name", required=True)
    return routing, account


def method_description(method: dict[str, Any]) -> str:
    if method.get("type") == "BANK_ACCOUNT":
        return f"{method.get('bank_name') or 'Bank account'} ending {method['last4']}"
    return f"{method.get('brand') or 'Card'} ending {method['last4']}"

"""What the billing service tells others (contract/events.md) and the mails it sends: receipts,
autopay failures and export links. Never a card number or CVC: a method is its brand and last four."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from portalkit.catalog import (
    AutopayChanged,
    InvoiceIssued,
    Money,
    PaymentFailed,
    PaymentMethodAdded,
    PaymentMethodRemoved,
    PaymentSucceeded,
    UsageExportReady,
)
from portalkit.mail import build_message
from services.billing.rules import money_text

Doc = dict[str, Any]


def _money(minor: int, currency: str) -> Money:
    return Money(amount=money_text(minor), currency=currency)


def invoice_issued(invoice: Doc) -> InvoiceIssued:
    return InvoiceIssued(
        invoice_id=invoice["_id"],
        number=invoice["number"],
        account_id=invoice["account_id"],
        total=_money(invoice["total_minor"], invoice["currency"]),
        due_date=invoice["due_date"],
    )


def payment_succeeded(payment: Doc) -> PaymentSucceeded:
    return PaymentSucceeded(
        payment_id=payment["_id"],
        number=payment["number"],
        account_id=payment["account_id"],
        amount=_money(payment["amount_minor"], payment["currency"]),
        invoice_ids=payment["invoice_ids"],
        method_description=payment["method_description"],
        autopay=bool(payment.get("autopay")),
    )


def payment_failed(payment: Doc) -> PaymentFailed:
    return PaymentFailed(
        payment_id=payment["_id"],
        account_id=payment["account_id"],
        amount=_money(payment["amount_minor"], payment["currency"]),
        invoice_ids=payment["invoice_ids"],
        failure_reason=payment["failure_reason"],
        autopay=bool(payment.get("autopay")),
    )


def method_added(method: Doc) -> PaymentMethodAdded:
    return PaymentMethodAdded(
        id=method["_id"],
        account_id=method["account_id"],
        type=method["type"],
        brand=method.get("brand") or None,
        last4=method["last4"],
    )


def method_removed(method: Doc) -> PaymentMethodRemoved:
    return PaymentMethodRemoved(id=method["_id"], account_id=method["account_id"])


def autopay_changed(account_id: str, enabled: bool, method_id: str) -> AutopayChanged:
    return AutopayChanged(account_id=account_id, enabled=enabled, payment_method_id=method_id or None)


def export_ready(export: Doc, row_count: int) -> UsageExportReady:
    return UsageExportReady(
        id=export["_id"], account_id=export["account_id"], row_count=row_count, format=export["format"]
    )


def receipt_mail(sender: str, to: str, payment: Doc, invoices: list[Doc]) -> EmailMessage:
    lines = [
        f"  {i['number']}  {money_text(a)} {payment['currency']}" for i, a in invoices_with_amounts(payment, invoices)
    ]
    how = "by autopay " if payment.get("autopay") else ""
    text = "\n".join(
        [
            f"Thank you: we received your payment {payment['number']} {how}of "
            f"{money_text(payment['amount_minor'])} {payment['currency']}.",
            "",
            f"Paid with: {payment['method_description']}",
            "Invoices:",
            *lines,
            "",
            "You can see your payments in the Customer Portal.",
        ]
    )
    return build_message(sender, to, f"Payment receipt {payment['number']}", text)


def payment_failed_mail(sender: str, to: str, payment: Doc, invoices: list[Doc]) -> EmailMessage:
    numbers = ", ".join(i["number"] for i in invoices)
    text = "\n".join(
        [
            f"Your automatic payment of {money_text(payment['amount_minor'])} {payment['currency']} for invoice(s) "
            f"{numbers} with {payment['method_description']} did not go through: {payment['failure_reason']}",
            "",
            "The invoices are still open. Please pay them in the Customer Portal or update your payment method.",
        ]
    )
    return build_message(sender, to, "Automatic payment failed", text)


def export_mail(sender: str, to: str, export: Doc, row_count: int, url: str, expires_at: str) -> EmailMessage:
    text = "\n".join(
        [
            f"Your usage export ({row_count} rows, {export['format']}) is ready:",
            "",
            url,
            "",
            f"The link works for you only, until {expires_at}, and needs you to be logged in to the portal.",
        ]
    )
    return build_message(sender, to, "Your usage export is ready", text)


def invoices_with_amounts(payment: Doc, invoices: list[Doc]) -> list[tuple[Doc, int]]:
    by_id = {i["_id"]: i for i in invoices}
    return [(by_id[a["invoice_id"]], a["amount_minor"]) for a in payment["allocations"] if a["invoice_id"] in by_id]

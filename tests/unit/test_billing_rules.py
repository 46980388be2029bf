"""Billing rules without a server: Eastern dates across daylight-saving changes, OVERDUE at the day
boundary, money in minor units, card and routing-number checks, signed download links, roles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from portalkit.auth import Caller
from portalkit.errors import FailedPrecondition, Forbidden, InvalidInput
from services.billing import rules
from services.billing.links import LinkSigner

USER = Caller("usr_u", "USER", "acc_1", "s")
MANAGER = Caller("usr_m", "MANAGER", "acc_1", "s")
ADMIN = Caller("usr_a", "ADMIN", "acc_1", "s")
OTHER = Caller("usr_o", "ADMIN", "acc_2", "s")
AGENT = Caller("usr_g", "AGENT", "", "s")
ROOT = Caller("usr_r", "SUPPORT_ADMIN", "", "s")


@pytest.mark.parametrize(
    ("utc", "eastern_day"),
    [
        # EST (UTC-5) in winter, EDT (UTC-4) in summer: the Eastern day turns at 05:00 or 04:00 UTC
        (datetime(2027, 1, 15, 4, 59, tzinfo=UTC), date(2027, 1, 14)),
        (datetime(2027, 1, 15, 5, 0, tzinfo=UTC), date(2027, 1, 15)),
        (datetime(2027, 7, 15, 3, 59, tzinfo=UTC), date(2027, 7, 14)),
        (datetime(2027, 7, 15, 4, 0, tzinfo=UTC), date(2027, 7, 15)),
        # the days DST begins (2027-03-14) and ends (2027-11-07)
        (datetime(2027, 3, 14, 4, 59, tzinfo=UTC), date(2027, 3, 13)),
        (datetime(2027, 3, 15, 3, 59, tzinfo=UTC), date(2027, 3, 14)),
        (datetime(2027, 3, 15, 4, 0, tzinfo=UTC), date(2027, 3, 15)),
        (datetime(2027, 11, 7, 3, 59, tzinfo=UTC), date(2027, 11, 6)),
        (datetime(2027, 11, 8, 4, 59, tzinfo=UTC), date(2027, 11, 7)),
        (datetime(2027, 11, 8, 5, 0, tzinfo=UTC), date(2027, 11, 8)),
    ],
)
def test_the_eastern_day_follows_daylight_saving(utc, eastern_day):
    assert rules.eastern_today(utc) == eastern_day


@pytest.mark.parametrize("due", [date(2027, 3, 14), date(2027, 11, 7), date(2027, 6, 30), date(2027, 12, 31)])
def test_an_invoice_due_today_is_overdue_from_half_past_midnight_eastern_the_next_day(due):
    invoice = {"status": "OPEN", "due_date": due.isoformat(), "total_minor": 100, "paid_minor": 0}
    late_evening = datetime(due.year, due.month, due.day, 23, 30, tzinfo=rules.EASTERN)
    after_midnight = datetime.combine(due + timedelta(days=1), datetime.min.time(), rules.EASTERN) + timedelta(
        minutes=30
    )
    assert rules.invoice_status(invoice, rules.eastern_today(late_evening.astimezone(UTC))) == "OPEN"
    assert rules.invoice_status(invoice, rules.eastern_today(after_midnight.astimezone(UTC))) == "OVERDUE"
    partly = {**invoice, "status": "PARTIALLY_PAID", "paid_minor": 50}
    assert rules.invoice_status(partly, rules.eastern_today(after_midnight)) == "OVERDUE"
    for settled in ("PAID", "VOID"):
        assert rules.invoice_status({**invoice, "status": settled}, rules.eastern_today(after_midnight)) == settled


def test_money_is_decimal_in_minor_units():
    lines, total = rules.invoice_lines(
        [
            {"description": "Widgets", "quantity": "3", "unit_price": "19.99"},
            {"description": "Rounding", "quantity": "0.5", "unit_price": "0.05"},
        ]
    )
    assert total == 5997 + 3  # 0.025 rounds half up to 0.03
    assert [line["amount_minor"] for line in lines] == [5997, 3]
    assert rules.money_text(total) == "60.00" and rules.from_minor(1) == Decimal("0.01")
    assert rules.to_minor(Decimal("0.1") + Decimal("0.2")) == 30
    for wrong in ("abc", "NaN", "Infinity"):
        with pytest.raises(InvalidInput):
            rules.decimal_of(wrong, "x")
    with pytest.raises(InvalidInput):
        rules.invoice_lines([{"description": "x", "quantity": "-1", "unit_price": "1"}])
    assert rules.balance_minor({"status": "VOID", "total_minor": 500, "paid_minor": 0}) == 0


TODAY = date(2026, 11, 23)


def test_cards_luhn_expiry_and_cvc():
    assert rules.check_card("4242 4242 4242 4242", 12, 2030, "123", "A", TODAY) == "4242424242424242"
    assert rules.card_brand("4242424242424242") == "Visa" and rules.card_brand("5555555555554444") == "Mastercard"
    assert rules.check_card("378282246310005", 1, 2030, "1234", "A", TODAY)  # Amex: four-digit code
    assert rules.check_card("4242424242424242", 11, 2026, "123", "A", TODAY)  # valid through its month
    cases = {
        "INVALID_CARD_NUMBER": ("4242424242424241", 12, 2030, "123", "A"),
        "CARD_EXPIRED": ("4242424242424242", 10, 2026, "123", "A"),
        "INVALID_EXPIRY": ("4242424242424242", 0, 2030, "123", "A"),
        "INVALID_CVC": ("378282246310005", 1, 2030, "123", "A"),
    }
    for reason, args in cases.items():
        with pytest.raises(InvalidInput) as refused:
            rules.check_card(*args, TODAY)
        assert refused.value.reason == reason and args[0] not in refused.value.message


def test_aba_routing_checksum():
    for good in ("011000015", "021000021", "110000000"):
        assert rules.aba_routing_ok(good)
    for bad in ("011000016", "12345678", "abcdefghi"):
        assert not rules.aba_routing_ok(bad)
    with pytest.raises(InvalidInput):
        rules.check_bank_account("021000021", "12", "Holder")


def test_who_may_pay_and_who_only_reads():
    for customer in (USER, MANAGER, ADMIN):
        assert rules.may_pay(customer, "acc_1") and rules.can_read(customer, {"account_id": "acc_1"})
        assert not rules.may_pay(customer, "acc_2")
    for staff in (AGENT, ROOT):
        assert rules.can_read(staff, {"account_id": "acc_1"}) and not rules.may_pay(staff, "acc_1")
        with pytest.raises(Forbidden):
            rules.require_pay(staff, "acc_1")
    with pytest.raises(Forbidden):
        rules.account_of(OTHER, "acc_1")
    with pytest.raises(InvalidInput):
        rules.account_of(AGENT, "")
    with pytest.raises(Forbidden):
        rules.require_back_office(ADMIN)
    rules.require_back_office(ROOT)
    with pytest.raises(FailedPrecondition):
        rules.require_method_type("BANK_ACCOUNT", ["CARD"])


def test_usage_ids_follow_from_account_and_external_id():
    assert rules.usage_id("acc_1", "e-1") == rules.usage_id("acc_1", "e-1")
    assert rules.usage_id("acc_1", "e-1") != rules.usage_id("acc_2", "e-1")
    assert rules.usage_id("acc_1", "e-1").startswith("usg_")


def test_download_links_are_for_one_user_one_file_until_they_expire():
    signer = LinkSigner(b"k" * 32, "https://portal.test/")
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    url = signer.url("invoices", "inv_1", "usr_a", now + timedelta(minutes=15))
    assert url.startswith("https://portal.test/downloads/invoices/inv_1?token=")
    token = url.split("token=")[1]
    signer.check(token, "invoices", "inv_1", "usr_a", now)
    refusals = {
        "DOWNLOAD_LINK_OTHER_USER": (token, "invoices", "inv_1", "usr_b", now),
        "DOWNLOAD_LINK_EXPIRED": (token, "invoices", "inv_1", "usr_a", now + timedelta(minutes=15)),
        "INVALID_DOWNLOAD_LINK": (token, "invoices", "inv_2", "usr_a", now),
    }
    for reason, args in refusals.items():
        with pytest.raises(Forbidden) as refused:
            signer.check(*args)
        assert refused.value.reason == reason
    other_key = LinkSigner(b"x" * 32, "https://portal.test").token("invoices", "inv_1", "usr_a", now + timedelta(1))
    for forged in (other_key, token[:-2] + "AA", "garbage", ""):
        with pytest.raises(Forbidden):
            signer.check(forged, "invoices", "inv_1", "usr_a", now)

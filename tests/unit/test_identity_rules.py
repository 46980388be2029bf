"""Identity's pure rules: password policy, permissions, invitation state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portalkit.auth import Caller
from portalkit.errors import FailedPrecondition, Forbidden, InvalidInput
from services.identity import rules

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
ADMIN = Caller("usr_a", "ADMIN", "acc_1", "s")
OTHER_ADMIN = Caller("usr_b", "ADMIN", "acc_2", "s")
MANAGER = Caller("usr_m", "MANAGER", "acc_1", "s")
AGENT = Caller("usr_g", "AGENT", "", "s")
ROOT = Caller("usr_r", "SUPPORT_ADMIN", "", "s")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "PASSWORD_TOO_SHORT"),
        ("x" * 129, "PASSWORD_TOO_LONG"),
        ("password123", "PASSWORD_TOO_COMMON"),
        ("qwertyuiop", "PASSWORD_TOO_COMMON"),
        ("jane.doe-is-great", "PASSWORD_CONTAINS_EMAIL"),
    ],
)
def test_password_policy_refuses(password, reason):
    with pytest.raises(InvalidInput) as refused:
        rules.check_password_policy(password, "jane.doe@example.com")
    assert refused.value.reason == reason
    assert refused.value.message  # a message a person can act on


def test_password_policy_accepts_a_good_password():
    rules.check_password_policy("lantern-orbit-cactus-42", "jane.doe@example.com")


def test_email_normalized_and_checked():
    assert rules.normalize_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    for bad in ["", "no-at-sign", "a@b", "two@@example.com"]:
        with pytest.raises(InvalidInput):
            rules.normalize_email(bad)


def test_user_management_only_own_account_admin_or_support_admin():
    target = {"_id": "usr_x", "account_id": "acc_1", "role": "USER"}
    rules.require_user_management(ADMIN, target)
    rules.require_user_management(ROOT, target)
    for caller in (OTHER_ADMIN, MANAGER, AGENT):
        with pytest.raises(Forbidden):
            rules.require_user_management(caller, target)


def test_listing_users_admin_own_account_and_staff():
    rules.require_user_listing(ADMIN, "acc_1")
    rules.require_user_listing(AGENT, "acc_1")
    with pytest.raises(Forbidden):
        rules.require_user_listing(ADMIN, "acc_2")
    with pytest.raises(Forbidden):
        rules.require_user_listing(MANAGER, "acc_1")


def test_reading_users_and_private_parts():
    same_account = {"_id": "usr_y", "account_id": "acc_1", "role": "USER"}
    staff_user = {"_id": "usr_s", "account_id": "", "role": "AGENT"}
    assert rules.can_read_user(MANAGER, same_account)
    assert rules.can_read_user(OTHER_ADMIN, staff_user)
    assert not rules.can_read_user(OTHER_ADMIN, same_account)
    assert rules.can_read_private(ADMIN, same_account)
    assert not rules.can_read_private(MANAGER, same_account)


def test_invitation_status_and_refusal_reasons():
    invitation = {"status": "PENDING", "token_hash": "h", "expires_at": NOW + timedelta(hours=1)}
    assert rules.invitation_status(invitation, NOW) == "PENDING"
    assert rules.invitation_status(invitation, NOW + timedelta(hours=2)) == "EXPIRED"
    cases = [
        ({**invitation}, "old-hash", NOW, "INVITATION_REVOKED"),
        ({**invitation, "status": "ACCEPTED"}, "h", NOW, "INVITATION_USED"),
        ({**invitation}, "h", NOW + timedelta(hours=2), "INVITATION_EXPIRED"),
        ({**invitation, "status": "REVOKED"}, "h", NOW, "INVITATION_REVOKED"),
    ]
    for inv, token_hash, now, reason in cases:
        with pytest.raises(FailedPrecondition) as refused:
            rules.refuse_unusable_invitation(inv, token_hash, now)
        assert refused.value.reason == reason
    rules.refuse_unusable_invitation(invitation, "h", NOW)  # usable: no error

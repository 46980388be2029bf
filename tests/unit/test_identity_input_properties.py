"""Whatever text arrives, identity's input rules either accept it or refuse it with InvalidInput."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from portalkit.errors import InvalidInput
from services.identity import rules

ANY_TEXT = st.text(max_size=300)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_email_normalization_never_crashes(raw):
    try:
        email = rules.normalize_email(raw)
    except InvalidInput as refused:
        assert refused.message
        return
    assert email == email.lower().strip() and "@" in email
    assert rules.login_email(raw) == email


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT, st.emails())
def test_password_policy_never_crashes(password, email):
    try:
        rules.check_password_policy(password, email.lower())
    except InvalidInput as refused:
        assert refused.reason.startswith("PASSWORD_")


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_names_are_cleaned_or_refused(raw):
    try:
        name = rules.clean_name(raw)
    except InvalidInput:
        return
    assert name and name == " ".join(name.split()) and len(name) <= rules.MAX_NAME_LENGTH

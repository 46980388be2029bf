"""Whatever text arrives, identity's input rules either accept it or refuse it with InvalidInput."""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from portalkit.errors import InvalidInput
from portalkit.pagination import decode_token, encode_token
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


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_page_tokens_round_trip(last_id):
    assert decode_token(encode_token(last_id)) == last_id


def _damaged(token: str, cut: int) -> str:
    return token[: cut % (len(token) + 1)]


# arbitrary text almost never decodes; real tokens and damaged ones exercise the accepting path too
TOKENS = ANY_TEXT | ANY_TEXT.map(encode_token) | st.builds(_damaged, ANY_TEXT.map(encode_token), st.integers(0, 400))


@settings(max_examples=300, deadline=None)
@given(TOKENS)
def test_page_tokens_decode_or_are_refused(raw):
    """Anything is either refused with InvalidInput or names the id the page continues after."""
    try:
        after = decode_token(raw)
    except InvalidInput:
        return
    if raw == "":
        assert after == ""  # no token: the first page
        return
    payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    assert isinstance(payload, dict) and after == str(payload["after"])

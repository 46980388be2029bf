"""Logging in, refreshing, logging out, and refusing bad tokens: through the real gateway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import grpc.aio
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portalkit.auth import Caller, TokenIssuer
from protos.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from protos.identity.v1 import identity_pb2, identity_pb2_grpc
from tests.support.graphql import code_of

ME = "{ me { id email role status account { number name } } }"
DEMO = [
    ("admin@acme.test", "ADMIN", "ACME-001"),
    ("manager@acme.test", "MANAGER", "ACME-001"),
    ("user@acme.test", "USER", "ACME-001"),
    ("admin@globex.test", "ADMIN", "GLOBEX-001"),
    ("agent@support.test", "AGENT", None),
    ("root@support.test", "SUPPORT_ADMIN", None),
]
REFRESH = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken user { email } } }"


@pytest.mark.parametrize(("email", "role", "account"), DEMO)
async def test_login_then_me_for_each_demo_user(gql, email, role, account):
    session = await gql.login(email)
    assert session["user"]["email"] == email
    me = (await gql.ok(ME, token=session["accessToken"]))["me"]
    assert (me["email"], me["role"], me["status"]) == (email, role, "ACTIVE")
    assert (me["account"] or {}).get("number") == account


async def test_wrong_password_and_unknown_email_fail_alike(gql):
    query = 'mutation($e: String!) { login(email: $e, password: "not-the-password") { accessToken } }'
    wrong = await gql.error(query, {"e": "manager@acme.test"})
    unknown = await gql.error(query, {"e": "nobody-here@acme.test"})
    assert code_of(wrong) == code_of(unknown) == "UNAUTHENTICATED"
    assert wrong["message"] == unknown["message"]
    assert wrong["extensions"] == unknown["extensions"]


async def test_refresh_rotates_and_old_token_is_refused(gql):
    session = await gql.login("user@acme.test")
    rotated = (await gql.ok(REFRESH, {"t": session["refreshToken"]}))["refreshSession"]
    assert rotated["refreshToken"] != session["refreshToken"]
    assert (await gql.ok(ME, token=rotated["accessToken"]))["me"]["email"] == "user@acme.test"
    replay = await gql.error(REFRESH, {"t": session["refreshToken"]})
    assert code_of(replay) == "UNAUTHENTICATED"


async def test_replayed_refresh_token_ends_the_whole_session(gql):
    session = await gql.login("user@acme.test")
    rotated = (await gql.ok(REFRESH, {"t": session["refreshToken"]}))["refreshSession"]
    await gql.error(REFRESH, {"t": session["refreshToken"]})  # theft detected
    assert code_of(await gql.error(REFRESH, {"t": rotated["refreshToken"]})) == "UNAUTHENTICATED"


async def test_logout_revokes_refresh_and_session(gql):
    session = await gql.login("manager@acme.test")
    logout = "mutation($t: String!) { logout(refreshToken: $t) }"
    assert (await gql.ok(logout, {"t": session["refreshToken"]}))["logout"] is True
    assert code_of(await gql.error(REFRESH, {"t": session["refreshToken"]})) == "UNAUTHENTICATED"
    # identity checks the session on its own calls, so the access token is dead there too
    assert code_of(await gql.error(ME, token=session["accessToken"])) == "UNAUTHENTICATED"


def _forged_tokens(demo_user_id: str) -> dict[str, str]:
    now = datetime.now(UTC)
    caller = Caller(demo_user_id, "SUPPORT_ADMIN", "", "ses_forged")
    other_key_token, _ = TokenIssuer().issue(caller, now, timedelta(minutes=5))
    claims = {
        "sub": demo_user_id,
        "role": "SUPPORT_ADMIN",
        "sid": "x",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "iss": "portal-identity",
        "aud": "portal",
    }
    return {
        "signed by another key": other_key_token,
        "unsigned (alg none)": jwt.encode(claims, key=None, algorithm="none"),
        "HS256 with a guessed secret": jwt.encode(claims, "secret", algorithm="HS256"),
        "garbage": "not-a-jwt",
        "tampered": other_key_token[:-4] + "AAAA",
        "own key, other kid": jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "x"}),
    }


async def test_forged_tokens_are_refused_by_gateway_and_services(gql, stack, demo):
    root_id = demo["root@support.test"].user_id
    async with (
        grpc.aio.insecure_channel(stack.address("identity")) as identity_channel,
        grpc.aio.insecure_channel(stack.address("contacts")) as contacts_channel,
    ):
        identity = identity_pb2_grpc.IdentityServiceStub(identity_channel)
        contacts = contacts_pb2_grpc.ContactsServiceStub(contacts_channel)
        for label, token in _forged_tokens(root_id).items():
            error = await gql.error(ME, token=token)
            assert code_of(error) == "UNAUTHENTICATED", label
            metadata = (("authorization", f"Bearer {token}"),)
            for call in (
                identity.GetUser(identity_pb2.GetUserRequest(id=root_id), metadata=metadata, timeout=5),
                contacts.BatchGetContacts(
                    contacts_pb2.BatchGetContactsRequest(ids=["x"]), metadata=metadata, timeout=5
                ),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, label
        # and a plain header claiming an identity is not trusted either
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await identity.GetMe(identity_pb2.GetMeRequest(), metadata=(("x-user-id", root_id),), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_expired_access_token_is_refused(gql, clock):
    session = await gql.login("user@acme.test")
    clock.advance(timedelta(minutes=-11))  # issued "11 minutes ago": expired a minute ago
    stale = await gql.login("user@acme.test")
    clock.offset = timedelta()
    error = await gql.error(ME, token=stale["accessToken"])
    assert code_of(error) == "UNAUTHENTICATED"
    assert (await gql.ok(ME, token=session["accessToken"]))["me"]["email"] == "user@acme.test"


async def test_me_without_token(gql):
    assert code_of(await gql.error(ME)) == "UNAUTHENTICATED"


SIGN_IN_SHAPE = """mutation($e: String!, $p: String!) { login(email: $e, password: $p) {
  accessToken user { email account { name admins { email } } } } }"""
REFRESH_SHAPE = "mutation($t: String!) { refreshSession(refreshToken: $t) { user { account { number } } } }"


async def test_fields_under_login_and_refresh_resolve_as_the_user_who_just_signed_in(gql):
    """The first query of every front end: sign in and read the account in one operation, no header."""
    body = await gql(SIGN_IN_SHAPE, {"e": "manager@acme.test", "p": "portal-demo-pass"})
    assert not body.get("errors"), body
    account = body["data"]["login"]["user"]["account"]
    assert account["name"] == "Acme Corp" and "admin@acme.test" in [a["email"] for a in account["admins"]]
    session = await gql.login("admin@globex.test")
    refreshed = await gql.ok(REFRESH_SHAPE, {"t": session["refreshToken"]})
    assert refreshed["refreshSession"]["user"]["account"]["number"] == "GLOBEX-001"
    # a failed sign-in acts as nobody: nested fields are not reached, the error says why
    failed = await gql(SIGN_IN_SHAPE, {"e": "manager@acme.test", "p": "wrong-password-123"})
    assert failed["data"] is None and code_of(failed["errors"][0]) == "UNAUTHENTICATED"

"""Users from a previous portal (issue 14): hash formats, import rows, rehash at first login, and the
last-admin guard as one conditional write, on an in-memory database without a server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import argon2
import bcrypt
import pytest
from passlib.hash import pbkdf2_sha256 as passlib_pbkdf2_sha256

from portalkit.auth import Caller, TokenIssuer
from portalkit.catalog import ContactDeleted
from portalkit.clock import ManualClock
from portalkit.consumers import Received
from portalkit.errors import FailedPrecondition, Forbidden, InvalidInput
from portalkit.mongo import connect
from services.identity import passwords
from services.identity.demo import load_demo
from services.identity.domain import Identity, ImportRow, password_hasher
from services.identity.events import IdentityMail
from services.identity.store import IdentityStore

OLD_PASSWORD = "my-old-community-pass"


def django_pbkdf2(password: str, salt: str = "d7FVsQh8ab2m", iterations: int = 1000) -> str:
    """Exactly what Django's PBKDF2PasswordHasher.encode writes."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def reference_hashes(password: str = OLD_PASSWORD) -> dict[str, str]:
    """One hash of each accepted format, made by the libraries the previous systems used."""
    b = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return {
        "bcrypt-2b": b,
        "bcrypt-2a": bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4, prefix=b"2a")).decode(),
        "argon2id": argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(password),
        "django": django_pbkdf2(password),
        "passlib": passlib_pbkdf2_sha256.using(rounds=1000).hash(password),
    }


@pytest.mark.parametrize("kind", sorted(reference_hashes("x")))
def test_each_reference_format_is_read_and_verified(kind):
    stored = reference_hashes()[kind]
    assert passwords.check_imported(stored)
    assert passwords.verify_imported(stored, OLD_PASSWORD)
    assert not passwords.verify_imported(stored, OLD_PASSWORD + "!")
    assert not passwords.verify_imported(stored, "")


def test_the_passlib_encoding_is_the_documented_one():
    """$pbkdf2-sha256$<rounds>$<ab64 salt>$<ab64 hash>, cross-checked with hashlib."""
    _, _, rounds, salt, digest = passlib_pbkdf2_sha256.using(rounds=1000).hash(OLD_PASSWORD).split("$")
    ab64 = lambda s: base64.b64decode(s.replace(".", "+") + "=" * (-len(s) % 4))  # noqa: E731
    assert hashlib.pbkdf2_hmac("sha256", OLD_PASSWORD.encode(), ab64(salt), int(rounds)) == ab64(digest)


def test_bcrypt_reads_only_the_first_72_bytes_as_the_old_system_did():
    long_password = "correct horse " * 8  # 112 bytes
    stored = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    assert passwords.verify_imported(stored, long_password)
    assert passwords.verify_imported(stored, long_password[:72])
    assert not passwords.verify_imported(stored, long_password[:71])


GOOD = reference_hashes()
REFUSED = {
    # unknown formats
    "md5-crypt": ("$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0", "UNSUPPORTED_HASH"),
    "sha512-crypt": (
        "$6$rounds=5000$usesomesillystri$D4IrlXatmP7rx3P3InaxBeoomnAihCKRVQP22JZ6EY47Wc6BkroIuUUBOov1i",
        "UNSUPPORTED_HASH",
    ),
    "argon2d": (GOOD["argon2id"].replace("$argon2id$", "$argon2d$"), "UNSUPPORTED_HASH"),
    "bcrypt-2x": ("$2x$" + GOOD["bcrypt-2b"][4:], "UNSUPPORTED_HASH"),
    "plain text": ("hunter2-plain", "UNSUPPORTED_HASH"),
    "sha1 django": ("sha1$abc$0123456789abcdef0123456789abcdef01234567", "UNSUPPORTED_HASH"),
    "with spaces": (" " + GOOD["bcrypt-2b"] + " x", "UNSUPPORTED_HASH"),
    "too long": ("$2b$" + "a" * 600, "UNSUPPORTED_HASH"),
    # malformed
    "bcrypt cut short": (GOOD["bcrypt-2b"][:40], "MALFORMED_HASH"),
    "bcrypt bad cost": ("$2b$xx$" + GOOD["bcrypt-2b"][7:], "MALFORMED_HASH"),
    "argon2 cut short": (GOOD["argon2id"].rsplit("$", 1)[0], "MALFORMED_HASH"),
    "django no iterations": (GOOD["django"].replace("$1000$", "$many$"), "MALFORMED_HASH"),
    "django cut hash": (GOOD["django"][:-10], "MALFORMED_HASH"),
    "passlib no hash part": (GOOD["passlib"].rsplit("$", 1)[0] + "$", "MALFORMED_HASH"),
    "passlib bad chars": (GOOD["passlib"][:-4] + "*!*!", "MALFORMED_HASH"),
    # a login could not afford them
    "bcrypt cost 15": ("$2b$15$" + GOOD["bcrypt-2b"][7:], "HASH_TOO_COSTLY"),
    "pbkdf2 5M": (GOOD["django"].replace("$1000$", "$5000000$"), "HASH_TOO_COSTLY"),
    "argon2 1GiB": (GOOD["argon2id"].replace("m=8192", "m=1048576"), "HASH_TOO_COSTLY"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unknown_malformed_or_costly_hashes_are_refused_without_being_quoted(case):
    stored, reason = REFUSED[case]
    with pytest.raises(InvalidInput) as refused:
        passwords.check_imported(stored)
    assert refused.value.reason == reason
    pieces = [p for p in stored.replace(",", "$").split("$") if len(p) >= 6]
    assert not [p for p in pieces if p in refused.value.message], refused.value.message
    assert not passwords.verify_imported(stored, OLD_PASSWORD)


# --- the domain ---------------------------------------------------------------------------------


@pytest.fixture
async def identity():
    store = IdentityStore(connect("memory://", "unit_identity_import"))
    await store.ensure_indexes()
    domain = Identity(
        store, TokenIssuer(), IdentityMail("portal@test", "https://portal.test"), ManualClock(), password_hasher("fast")
    )
    domain.demo = {d.email: d for d in await load_demo(domain)}
    return domain


ROOT = Caller("usr_root", "SUPPORT_ADMIN", "", "ses_unit")


async def _acme(identity) -> str:
    return (await identity.store.find_user_by_email("admin@acme.test"))["account_id"]


async def test_import_rows_succeed_or_fail_alone_and_old_passwords_work_then_are_rehashed(identity):
    acme = await _acme(identity)
    rows = [ImportRow(f"{kind}@old.test", f"Old {kind}", "MANAGER", stored) for kind, stored in GOOD.items()]
    rows += [
        ImportRow("nohash@old.test", "No Hash", "USER"),
        ImportRow("user@acme.test", "Taken", "USER", GOOD["django"]),
        ImportRow("weird@old.test", "Weird", "USER", "$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0"),
        ImportRow("staff@old.test", "Staff", "SUPPORT_ADMIN", GOOD["django"]),
        ImportRow("not an email", "Bad", "USER", GOOD["django"]),
    ]
    outcomes = await identity.import_users(ROOT, acme, rows)
    assert [o.error == "" for o in outcomes] == [True] * 6 + [False] * 4
    assert "already has a user" in outcomes[6].error
    assert "not in a supported format" in outcomes[7].error
    taken = await identity.store.find_user_by_email("user@acme.test")
    assert taken["name"] == "Uma User" and taken["role"] == "USER" and "imported_password" not in taken

    invited = await identity.store.find_user_by_email("nohash@old.test")
    assert invited["status"] == "INVITED" and invited["password_hash"] == ""
    for kind, stored in GOOD.items():
        user = await identity.store.find_user_by_email(f"{kind}@old.test")
        assert (user["status"], user["role"], user["password_hash"]) == ("ACTIVE", "MANAGER", stored)
        assert [e["envelope"]["type"] for e in user["_outbox"]] == ["portal.user.activated.v1"]
        assert stored not in json.dumps(user["_outbox"], default=str)
        with pytest.raises(Exception, match="invalid email or password"):
            await identity.login(f"{kind}@old.test", "not-the-old-one", "")
        assert (await identity.store.get_user(user["_id"]))["password_hash"] == stored  # a failure changes nothing
        await identity.login(f"{kind}@old.test", OLD_PASSWORD, "")
        rehashed = await identity.store.get_user(user["_id"])
        assert rehashed["password_hash"].startswith("$argon2id$") and rehashed["password_hash"] != stored
        assert not identity.hasher.check_needs_rehash(rehashed["password_hash"])
        assert "imported_password" not in rehashed
        await identity.login(f"{kind}@old.test", OLD_PASSWORD, "")  # and the same password still works
        assert (await identity.store.get_user(user["_id"]))["password_hash"] == rehashed["password_hash"]


async def test_only_a_support_admin_imports_and_at_most_1000_rows(identity):
    acme = await _acme(identity)
    admin = await identity.store.find_user_by_email("admin@acme.test")
    for caller in (Caller(admin["_id"], "ADMIN", acme, "s"), Caller("usr_a", "AGENT", "", "s")):
        with pytest.raises(Forbidden):
            await identity.import_users(caller, acme, [ImportRow("a@old.test", "A", "USER")])
    with pytest.raises(InvalidInput):
        await identity.import_users(ROOT, acme, [ImportRow(f"r{i}@old.test", "R", "USER") for i in range(1001)])


async def test_every_login_costs_at_least_one_argon2_verify(identity):
    """The timing of an imported user's login is no shorter than that of an unknown email (the
    dummy-hash path): the old scheme's verify runs alongside one argon2 verify."""
    verified: list[str] = []

    class Spy(argon2.PasswordHasher):
        def verify(self, hash, password):
            verified.append(hash)
            return super().verify(hash, password)

    identity.hasher = Spy(time_cost=1, memory_cost=1024, parallelism=1)
    acme = await _acme(identity)
    await identity.import_users(ROOT, acme, [ImportRow("timing@old.test", "T", "USER", GOOD["django"])])
    for email in ("timing@old.test", "nobody@old.test"):
        verified.clear()
        with pytest.raises(Exception, match="invalid email or password"):
            await identity.login(email, "wrong-password-1", "")
        assert verified == [identity._dummy_hash]


async def test_a_password_reset_ends_the_import_mark_too(identity):
    acme = await _acme(identity)
    await identity.import_users(ROOT, acme, [ImportRow("reset@old.test", "R", "USER", GOOD["bcrypt-2b"])])
    user = await identity.store.find_user_by_email("reset@old.test")
    await identity.store.set_password(user["_id"], identity.hasher.hash("a-brand-new-pass-42"))
    stored = await identity.store.get_user(user["_id"])
    assert "imported_password" not in stored and stored["password_hash"].startswith("$argon2id$")


def test_an_import_row_never_shows_its_hash():
    assert GOOD["django"] not in repr(ImportRow("a@old.test", "A", "USER", GOOD["django"]))


# --- the last-admin guard -------------------------------------------------------------------------


def like_a_real_database(store: IdentityStore, monkeypatch, latency: float = 0.0) -> None:
    """mongomock answers without ever yielding to the event loop, so nothing could interleave between
    a read and a write; a real server is a network round trip away. Every call yields (for `latency`
    seconds) before and after, as a round trip would."""
    for collection in (store.users, store.accounts, store.sessions):
        for name in ("find_one", "find_many", "count", "update_one", "find_one_and_update", "insert_one"):
            original = getattr(collection, name)

            async def round_trip(*args, _original=original, **kwargs):
                await asyncio.sleep(latency)
                result = await _original(*args, **kwargs)
                await asyncio.sleep(latency)
                return result

            monkeypatch.setattr(collection, name, round_trip)


async def _two_admins(identity) -> tuple[str, list[str]]:
    acme = await _acme(identity)
    rows = [ImportRow(f"boss{i}@old.test", f"Boss {i}", "ADMIN", GOOD["django"]) for i in range(2)]
    await identity.import_users(ROOT, acme, rows)
    # Acme's demo admin steps aside, so the two imported admins are the account's last two
    await identity.set_role(ROOT, (await identity.store.find_user_by_email("admin@acme.test"))["_id"], "MANAGER")
    ids = [(await identity.store.find_user_by_email(f"boss{i}@old.test"))["_id"] for i in range(2)]
    assert sorted((await identity.store.get_account(acme))["active_admin_ids"]) == sorted(ids)
    return acme, ids


async def _active_admins(identity, account_id: str) -> list[str]:
    return sorted(u["_id"] for u in await identity.store.active_admins_of([account_id], 100))


@pytest.mark.parametrize("first", ["demote", "deactivate"])
@pytest.mark.parametrize("second", ["demote", "deactivate"])
async def test_concurrent_removal_of_the_last_two_admins_lets_one_through(identity, first, second, monkeypatch):
    like_a_real_database(identity.store, monkeypatch)
    acme, ids = await _two_admins(identity)

    async def act(what: str, user_id: str):
        if what == "demote":
            return await identity.set_role(ROOT, user_id, "USER")
        return await identity.deactivate(ROOT, user_id)

    for _ in range(20):
        results = await asyncio.gather(act(first, ids[0]), act(second, ids[1]), return_exceptions=True)
        refused = [r for r in results if isinstance(r, Exception)]
        assert len(refused) == 1, results
        assert isinstance(refused[0], FailedPrecondition) and refused[0].reason == "LAST_ADMIN"
        left = await _active_admins(identity, acme)
        assert len(left) == 1
        assert (await identity.store.get_account(acme))["active_admin_ids"] == left
        for user_id in ids:  # both admins again for the next round
            await identity.activate(ROOT, user_id)
            await identity.set_role(ROOT, user_id, "ADMIN")
        assert sorted((await identity.store.get_account(acme))["active_admin_ids"]) == sorted(ids)


async def test_a_failed_write_after_the_guard_puts_the_admin_back(identity, monkeypatch):
    acme, ids = await _two_admins(identity)

    async def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(identity.store, "change_role", broken)
    with pytest.raises(RuntimeError):
        await identity.set_role(ROOT, ids[0], "USER")
    assert sorted((await identity.store.get_account(acme))["active_admin_ids"]) == sorted(ids)


async def test_the_set_follows_consumer_deactivation_and_accounts_from_before_it(identity):
    acme, ids = await _two_admins(identity)
    await identity.store.link_contact(ids[0], "ACTIVE", "con_boss0")
    await identity.on_contact_deleted(Received("evt-del", ContactDeleted(contact_id="con_boss0", account_id=acme)))
    assert (await identity.store.get_account(acme))["active_admin_ids"] == [ids[1]]
    with pytest.raises(FailedPrecondition):
        await identity.set_role(ROOT, ids[1], "USER")
    # an account stored before the set existed gets it, counted from its users, on first use
    await identity.store.accounts.update_one({"_id": acme}, {"$unset": {"active_admin_ids": ""}})
    with pytest.raises(FailedPrecondition):
        await identity.deactivate(ROOT, ids[1])
    assert (await identity.store.get_account(acme))["active_admin_ids"] == [ids[1]]

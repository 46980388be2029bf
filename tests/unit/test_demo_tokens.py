"""The shared demo-token harness (tests/support/tokens.py): one login per user, renewed when old."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.support.tokens import DEMO_PASSWORD, DEMO_USERS, MAX_AGE_SECONDS, DemoTokens


class FakeLogin:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, email: str, password: str) -> str:
        assert password == DEMO_PASSWORD
        self.calls.append(email)
        await asyncio.sleep(0)  # let concurrent callers interleave
        return f"token-{len(self.calls)}-{email}"


async def test_each_user_logs_in_once_and_the_token_is_reused():
    login = FakeLogin()
    tokens = DemoTokens(login)
    first = await tokens("admin@acme.test")
    assert await tokens("admin@acme.test") == first
    assert await tokens.as_role("ADMIN") == first
    other = await tokens.as_role("SUPPORT_ADMIN")
    assert other != first
    assert login.calls == ["admin@acme.test", "root@support.test"] and tokens.logins == 2


async def test_concurrent_first_uses_share_one_login():
    login = FakeLogin()
    tokens = DemoTokens(login)
    got = await asyncio.gather(*(tokens("user@acme.test") for _ in range(5)))
    assert len(set(got)) == 1 and login.calls == ["user@acme.test"]


async def test_an_old_token_is_replaced_by_a_fresh_login():
    now = [1000.0]
    login = FakeLogin()
    tokens = DemoTokens(login, monotonic=lambda: now[0])
    first = await tokens("user@acme.test")
    now[0] += MAX_AGE_SECONDS - 1
    assert await tokens("user@acme.test") == first
    now[0] += 2
    renewed = await tokens("user@acme.test")
    assert renewed != first and len(login.calls) == 2
    assert await tokens("user@acme.test") == renewed


async def test_a_moved_clock_gets_its_own_token_and_leaves_the_cache_alone():
    offset = [timedelta()]
    login = FakeLogin()
    tokens = DemoTokens(login, lambda: offset[0])
    cached = await tokens("manager@acme.test")
    offset[0] = timedelta(minutes=-11)
    moved = await tokens("manager@acme.test")
    assert moved != cached
    offset[0] = timedelta()
    assert await tokens("manager@acme.test") == cached


async def test_forget_and_unknown_users():
    login = FakeLogin()
    tokens = DemoTokens(login)
    first = await tokens("agent@support.test")
    tokens.forget("agent@support.test")
    assert await tokens("agent@support.test") != first
    with pytest.raises(KeyError):
        await tokens("someone@else.test")
    assert set(DEMO_USERS.values()) == {
        "admin@acme.test",
        "manager@acme.test",
        "user@acme.test",
        "admin@globex.test",
        "agent@support.test",
        "root@support.test",
    }

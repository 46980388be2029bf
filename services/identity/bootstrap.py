"""The way into an empty distributed deployment: PORTAL_BOOTSTRAP_ADMIN_EMAIL / _PASSWORD name a
SUPPORT_ADMIN that identity makes sure exists at every start (idempotent: an existing user of that
email is left as it is, password included)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pydantic_settings import BaseSettings, SettingsConfigDict

from portalkit.ids import new_id
from services.identity import rules
from services.identity.domain import Identity

log = logging.getLogger(__name__)


class BootstrapAdmin(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_BOOTSTRAP_ADMIN_", extra="ignore")

    email: str = ""
    password: str = ""
    name: str = "Bootstrap Admin"


async def ensure_bootstrap_admin(identity: Identity, admin: BootstrapAdmin) -> bool:
    """True when the admin was created now."""
    if not admin.email or not admin.password:
        return False
    email = rules.normalize_email(admin.email)
    if await identity.store.find_user_by_email(email) is not None:
        return False
    await identity.store.insert_user(
        {
            "_id": new_id("usr"),
            "email": email,
            "name": admin.name,
            "role": "SUPPORT_ADMIN",
            "status": "ACTIVE",
            "team": "",
            "account_id": "",
            "contact_id": "",
            "password_hash": await asyncio.to_thread(identity.hasher.hash, admin.password),
            "email_preferences": dict(rules.DEFAULT_EMAIL_PREFERENCES),
            "created_at": identity.clock.now(),
            "last_login_at": None,
        }
    )
    log.info("bootstrap admin created", extra={"email": email})
    return True


def bootstrap_step(identity: Identity) -> Callable[[], Awaitable[None]]:
    """The start step: the admin from the environment (nothing when unset)."""

    async def step() -> None:
        await ensure_bootstrap_admin(identity, BootstrapAdmin())

    return step

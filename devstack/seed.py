"""`python -m devstack.seed`: load the demo data into any deployment's identity database
(PORTAL_IDENTITY_MONGODB_URI). Idempotent: what exists is left as it is."""

from __future__ import annotations

import asyncio

from portalkit import config, mongo
from portalkit.auth import TokenIssuer
from portalkit.clock import Clock
from services.identity.demo import DEMO_PASSWORD, load_demo
from services.identity.domain import Identity, password_hasher
from services.identity.events import IdentityMail
from services.identity.store import IdentityStore


async def main() -> None:
    settings = config.PortalSettings()
    store = IdentityStore(mongo.connect(config.service_mongodb_uri("identity"), "portal_identity"))
    await store.ensure_indexes()
    identity = Identity(
        store,
        TokenIssuer(settings.jwt_private_key),
        IdentityMail(settings.mail_from, settings.public_url),
        Clock(),
        password_hasher(settings.argon2_profile),
    )
    for login in await load_demo(identity):
        print(f"{login.email:<22} {login.role:<14} {login.account}  (password {DEMO_PASSWORD})")


if __name__ == "__main__":
    asyncio.run(main())

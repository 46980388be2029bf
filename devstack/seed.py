"""`python -m devstack.seed`: load the demo data into any deployment's identity database
(PORTAL_IDENTITY_MONGODB_URI). Idempotent: what exists is left as it is."""

from __future__ import annotations

import asyncio

from services.identity.demo import DEMO_PASSWORD, load_demo
from services.identity.service import IdentitySettings, build


async def main() -> None:
    identity = build(IdentitySettings())
    await identity.store.ensure_indexes()  # no server, no relay: demo users carry no events
    for login in await load_demo(identity.domain):
        print(f"{login.email:<22} {login.role:<14} {login.account}  (password {DEMO_PASSWORD})")


if __name__ == "__main__":
    asyncio.run(main())

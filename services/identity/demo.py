"""Demo data of design.md section 9 for identity: accounts, users and staff, idempotent."""

from __future__ import annotations

from dataclasses import dataclass

from portalkit.ids import new_id
from services.identity import events, rules
from services.identity.domain import Identity, new_account

DEMO_PASSWORD = "portal-demo-pass"
DEMO_ACCOUNTS = [("Acme Corp", "ACME-001"), ("Globex", "GLOBEX-001")]
DEMO_USERS = [
    # email, name, role, account number ("" for staff), team
    ("admin@acme.test", "Ada Admin", "ADMIN", "ACME-001", ""),
    ("manager@acme.test", "Max Manager", "MANAGER", "ACME-001", ""),
    ("user@acme.test", "Uma User", "USER", "ACME-001", ""),
    ("admin@globex.test", "Gus Globex", "ADMIN", "GLOBEX-001", ""),
    ("agent@support.test", "Alex Agent", "AGENT", "", "CUSTOMER_CARE"),
    ("root@support.test", "Root Admin", "SUPPORT_ADMIN", "", ""),
]


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    account: str
    user_id: str
    account_id: str = ""  # "" for staff


async def load_demo(identity: Identity) -> list[DemoLogin]:
    store = identity.store
    now = identity.clock.now()
    account_ids: dict[str, str] = {}
    for name, number in DEMO_ACCOUNTS:
        account = await store.find_account_by_number(number)
        if account is None:
            account = new_account(name, number, now)
            # announced like any new account: contacts keeps its copy of the portal switch from it
            await store.insert_account(account, [events.account_updated(account)])
        account_ids[number] = account["_id"]
    password_hash = identity.hasher.hash(DEMO_PASSWORD)
    logins = []
    for email, name, role, number, team in DEMO_USERS:
        user = await store.find_user_by_email(email)
        if user is None:
            user = {
                "_id": new_id("usr"),
                "email": email,
                "name": name,
                "role": role,
                "status": "ACTIVE",
                "team": team,
                "account_id": account_ids.get(number, ""),
                "contact_id": "",
                "password_hash": password_hash,
                "email_preferences": dict(rules.DEFAULT_EMAIL_PREFERENCES),
                "created_at": now,
                "last_login_at": None,
            }
            await store.insert_user(user)
            if rules.is_active_admin(user):
                await store.add_active_admin(user["account_id"], user["_id"])
        logins.append(DemoLogin(email, role, number or "staff", user["_id"], account_ids.get(number, "")))
    return logins

"""Demo contacts (design.md section 9): one in every portal-access state, some from the back office.

Loaded through the domain, as a support administrator would, so every contact's events go out and
identity invites, links or deactivates as it would for real: the states settle within a moment.
Idempotent: an address already among the account's contacts is left as it is.
"""

from __future__ import annotations

from portalkit.auth import Caller
from services.contacts.domain import Contacts

SYSTEM = Caller(user_id="system", role="SUPPORT_ADMIN", account_id="", session_id="")
# account number, first, last, email, title, what happens to portal access
DEMO_CONTACTS = [
    ("ACME-001", "Uma", "User", "user@acme.test", "Analyst", "on"),  # an existing user: linked, ACTIVE
    ("ACME-001", "Max", "Manager", "manager@acme.test", "Purchasing manager", "on"),
    ("ACME-001", "Ivy", "Invitee", "ivy.invitee@acme.test", "Controller", "on"),  # INVITED until she accepts
    ("ACME-001", "Dan", "Departed", "dan.departed@acme.test", "Former buyer", "off-later"),  # DISABLED
    ("ACME-001", "Nora", "Ledger", "nora.ledger@acme.test", "Accounts payable", "never"),  # NONE
    ("GLOBEX-001", "Gail", "Grant", "gail.grant@globex.test", "Operations lead", "never"),
]
# pushed by the back office (ERP ids), never invited by that
DEMO_EXTERNAL = [
    ("ACME-001", "ERP-1001", "Bea", "Booker", "bea.booker@acme.test", "Bookkeeper"),
    ("ACME-001", "ERP-1002", "Carl", "Counter", "carl.counter@acme.test", "Treasurer"),
]


async def load_demo(contacts: Contacts, accounts: dict[str, str]) -> int:
    """`accounts`: account number -> id. Returns how many contacts were added."""
    added = 0
    for number, first, last, email, title, access in DEMO_CONTACTS:
        account_id = accounts[number]
        if await contacts.store.find_by_email(account_id, email) is not None:
            continue
        values = {"first_name": first, "last_name": last, "email": email, "title": title}
        contact = await contacts.create_contact(SYSTEM, account_id, {**values, "portal_enabled": access != "never"})
        if access == "off-later":
            await contacts.set_portal_access(SYSTEM, contact["_id"], False, "USER")
        added += 1
    rows = [
        {"account_id": accounts[n], "external_id": ext, "first_name": f, "last_name": la, "email": e, "title": t}
        for n, ext, f, la, e, t in DEMO_EXTERNAL
    ]
    fresh = [r for r in rows if await contacts.store.find_by_external_id(r["account_id"], r["external_id"]) is None]
    if fresh:
        added += len(await contacts.upsert_external(SYSTEM, fresh))
    return added

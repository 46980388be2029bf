"""`python -m devstack.seed_api`: demo data loaded through the public GraphQL API of any running
deployment (compose, Kubernetes, a remote gateway), signed in as the bootstrap admin.

PORTAL_SEED_GATEWAY_URL (default http://127.0.0.1:8000) and PORTAL_BOOTSTRAP_ADMIN_EMAIL /
_PASSWORD. Idempotent: an account whose number exists, a staff user or contact whose email exists
is left as it is. What the API does not allow is not faked: the demo accounts' admins and contacts
get their invitation mails and set their own passwords (see the mail catcher)."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.contacts.demo import DEMO_CONTACTS
from services.identity.demo import DEMO_ACCOUNTS, DEMO_USERS

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"
ACCOUNT = "query($s: String!) { accounts(search: $s, first: 5) { edges { node { id number } } } }"
CREATE_ACCOUNT = "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id number } }"
CREATE_STAFF = "mutation($i: CreateStaffUserInput!) { createStaffUser(input: $i) { id } }"
CREATE_CONTACT = "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }"
EXISTS = {"CONFLICT", "ALREADY_EXISTS"}


class SeedError(RuntimeError):
    pass


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


async def _call(http: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str = "") -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = (await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)).json()
    if body.get("errors"):
        error = body["errors"][0]
        code = error.get("extensions", {}).get("code", "")
        if code in EXISTS:
            return {"_exists": True}
        raise SeedError(f"{code or 'ERROR'}: {error.get('message')}")
    return dict(body["data"])


async def seed(url: str, email: str, password: str) -> SeedReport:
    report = SeedReport()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        token = (await _call(http, LOGIN, {"e": email, "p": password}))["login"]["accessToken"]
        account_ids: dict[str, str] = {}
        admins = {number: (mail, name) for mail, name, role, number, _ in DEMO_USERS if role == "ADMIN"}
        for name, number in DEMO_ACCOUNTS:
            found = await _call(http, ACCOUNT, {"s": number}, token)
            nodes = [e["node"] for e in found["accounts"]["edges"] if e["node"]["number"] == number]
            if nodes:
                account_ids[number] = nodes[0]["id"]
                report.existing.append(f"account {number}")
                continue
            admin_email, admin_name = admins[number]
            created = await _call(
                http,
                CREATE_ACCOUNT,
                {"i": {"name": name, "number": number, "adminEmail": admin_email, "adminName": admin_name}},
                token,
            )
            account_ids[number] = created["createAccount"]["id"]
            report.created.append(f"account {number}")
        for mail, name, role, number, team in DEMO_USERS:
            if number or role not in ("AGENT", "SUPPORT_ADMIN"):
                continue
            staff = {"email": mail, "name": name, "role": role, **({"team": team} if team else {})}
            outcome = await _call(http, CREATE_STAFF, {"i": staff}, token)
            (report.existing if "_exists" in outcome else report.created).append(f"staff {mail}")
        for number, first, last, mail, title, access in DEMO_CONTACTS:
            contact = {
                "accountId": account_ids[number],
                "firstName": first,
                "lastName": last,
                "email": mail,
                "title": title,
                "portalEnabled": access != "never",
            }
            outcome = await _call(http, CREATE_CONTACT, {"i": contact}, token)
            (report.existing if "_exists" in outcome else report.created).append(f"contact {mail}")
    return report


def main() -> None:
    url = os.environ.get("PORTAL_SEED_GATEWAY_URL", "http://127.0.0.1:8000")
    email = os.environ.get("PORTAL_BOOTSTRAP_ADMIN_EMAIL", "")
    password = os.environ.get("PORTAL_BOOTSTRAP_ADMIN_PASSWORD", "")
    if not email or not password:
        sys.exit("seed_api: set PORTAL_BOOTSTRAP_ADMIN_EMAIL and PORTAL_BOOTSTRAP_ADMIN_PASSWORD (the bootstrap admin)")
    try:
        report = asyncio.run(seed(url, email, password))
    except (SeedError, httpx.HTTPError) as exc:
        sys.exit(f"seed_api: {exc}")
    for line in report.created:
        print(f"created  {line}")
    for line in report.existing:
        print(f"existing {line}")


if __name__ == "__main__":
    main()

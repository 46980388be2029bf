"""Contacts' root query fields: none yet (contacts, contact arrive with the contacts service)."""

from __future__ import annotations

import strawberry


@strawberry.type
class ContactsQuery:
    pass

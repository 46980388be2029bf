"""Contacts in the graph: the contract's types; root fields arrive with the contacts service."""

from __future__ import annotations

import strawberry

from gateway.schema.common import Connection, NodeResolver
from gateway.schema.contacts.enums import ContactOrder
from gateway.schema.contacts.mutations import ContactsMutation as Mutation
from gateway.schema.contacts.queries import ContactsQuery as Query
from gateway.schema.contacts.types import (
    Contact,
    ContactFilter,
    CreateContactInput,
    ExternalContactInput,
    UpdateContactInput,
)


@strawberry.type
class ContactsSubscription:
    """None in the contract."""


Subscription = ContactsSubscription

NODES: dict[str, NodeResolver] = {}  # contacts, once the service can read them whole
# No root field reaches these yet; each goes once one does.
TYPES: list[type] = [
    Connection[Contact],
    ContactFilter,
    ContactOrder,
    CreateContactInput,
    UpdateContactInput,
    ExternalContactInput,
]

__all__ = ["NODES", "TYPES", "Mutation", "Query", "Subscription"]

"""Contacts in the graph: contacts of customer accounts, their portal access and back-office sync."""

from __future__ import annotations

import strawberry

from gateway.schema.common import NodeResolver
from gateway.schema.contacts.mutations import ContactsMutation as Mutation
from gateway.schema.contacts.queries import ContactsQuery as Query
from gateway.schema.contacts.types import REFERENCES, load_contact


@strawberry.type
class ContactsSubscription:
    """None in the contract."""


Subscription = ContactsSubscription

NODES: dict[str, NodeResolver] = {"con_": load_contact}
TYPES: list[type] = []  # every contacts type is reached from a field

__all__ = ["NODES", "REFERENCES", "TYPES", "Mutation", "Query", "Subscription"]

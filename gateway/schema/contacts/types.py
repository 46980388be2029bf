"""Contacts' graph types, as the contract has them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from gateway.schema.common import Node
from gateway.schema.contacts.enums import PortalAccessStatus, SyncStatus
from gateway.schema.identity.enums import Role

if TYPE_CHECKING:
    from gateway.schema.identity.types import Account, User


@strawberry.type()
class Contact(Node):
    id: strawberry.ID
    account: Annotated[Account, strawberry.lazy("gateway.schema.identity.types")]
    first_name: str
    last_name: str
    email: str
    phone: str | None
    title: str | None
    is_primary: bool
    portal_enabled: bool
    portal_access_status: PortalAccessStatus
    is_user: bool
    user: Annotated[User, strawberry.lazy("gateway.schema.identity.types")] | None
    external_id: str | None
    sync_status: SyncStatus
    last_synced_at: datetime | None
    created_at: datetime
    updated_at: datetime


@strawberry.input(
    description="Column filters: case-insensitive 'contains' on text columns; `search` matches any text column."
)
class ContactFilter:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    portal_enabled: bool | None = None
    is_user: bool | None = None
    search: str | None = None


@strawberry.input()
class CreateContactInput:
    account_id: strawberry.ID | None = None
    first_name: str
    last_name: str
    email: str
    phone: str | None = None
    title: str | None = None
    is_primary: bool | None = False
    portal_enabled: bool | None = True
    portal_role: Role | None = Role["USER"]


@strawberry.input()
class UpdateContactInput:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    is_primary: bool | None = None


@strawberry.input(description="A contact pushed in by the back-office system; upserted by (accountId, externalId).")
class ExternalContactInput:
    account_id: strawberry.ID
    external_id: str
    first_name: str
    last_name: str
    email: str
    phone: str | None = None
    title: str | None = None

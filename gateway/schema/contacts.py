"""The contacts part of the graph: the contract's types. Root fields arrive with the contacts service."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from gateway.schema.common import Node, PageInfo
from gateway.schema.identity import Account, Role, User


@strawberry.enum
class PortalAccessStatus(enum.Enum):
    NONE = "NONE"
    INVITED = "INVITED"
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


@strawberry.enum
class SyncStatus(enum.Enum):
    PENDING = "PENDING"
    SYNCED = "SYNCED"
    FAILED = "FAILED"


@strawberry.type()
class Contact(Node):
    id: strawberry.ID
    account: Account
    first_name: str
    last_name: str
    email: str
    phone: str | None
    title: str | None
    is_primary: bool
    portal_enabled: bool
    portal_access_status: PortalAccessStatus
    is_user: bool
    user: User | None
    external_id: str | None
    sync_status: SyncStatus
    last_synced_at: datetime | None
    created_at: datetime
    updated_at: datetime


@strawberry.type()
class ContactConnection:
    edges: list[ContactEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type()
class ContactEdge:
    node: Contact
    cursor: str


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


@strawberry.enum
class ContactOrder(enum.Enum):
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    EMAIL_ASC = "EMAIL_ASC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"


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
    portal_role: Role | None = Role.USER


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

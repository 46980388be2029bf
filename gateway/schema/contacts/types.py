"""Contacts' graph types, as the contract has them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gateway.context import PortalContext
from gateway.schema.common import (
    Connection,
    Ctx,
    Node,
    Reference,
    References,
    connection,
    dt,
    made,
    on_read,
    optional_dt,
    read_by_id,
)
from gateway.schema.contacts import loaders
from gateway.schema.contacts.enums import PortalAccessStatus, SyncStatus
from gateway.schema.identity import loaders as identity_loaders
from gateway.schema.identity.enums import Role
from protos.contacts.v1 import contacts_pb2 as pb

if TYPE_CHECKING:
    from gateway.schema.identity.types import Account, User


@strawberry.type()
class Contact(Node):
    id: strawberry.ID
    first_name: str
    last_name: str
    email: str
    phone: str | None = on_read(lambda m: m.phone or None)
    title: str | None = on_read(lambda m: m.title or None)
    is_primary: bool
    portal_enabled: bool
    portal_access_status: PortalAccessStatus = on_read(lambda m: PortalAccessStatus.from_pb(m.portal_access_status))
    is_user: bool = strawberry.field(
        description="True once a portal user exists for this contact (invited or active), as the back office shows it."
    )
    external_id: str | None = on_read(lambda m: m.external_id or None)
    sync_status: SyncStatus = on_read(lambda m: SyncStatus.from_pb(m.sync_status))
    last_synced_at: datetime | None = on_read(lambda m: optional_dt(m, "last_synced_at"))
    created_at: datetime = on_read(lambda m: dt(m.created_at))
    updated_at: datetime = on_read(lambda m: dt(m.updated_at))
    account_id: strawberry.Private[str]
    user_id: strawberry.Private[str]
    message: strawberry.Private[pb.Contact]

    @classmethod
    def from_pb(cls, m: pb.Contact) -> Contact:
        return made(
            cls,
            m,
            id=strawberry.ID(m.id),
            first_name=m.first_name,
            last_name=m.last_name,
            email=m.email,
            is_primary=m.is_primary,
            portal_enabled=m.portal_enabled,
            is_user=m.is_user,
            account_id=m.account_id,
            user_id=m.user_id,
        )

    @strawberry.field
    def account(self, info: Ctx) -> Annotated[Account, strawberry.lazy("gateway.schema.identity.types")]:
        # never null for a contact the caller may read; if it were, graphql-core reports the field
        return REFERENCES["Contact"]["account"].resolve(info, self)

    @strawberry.field(description="The contact's portal user (Login Info: status, last login, invitation).")
    def user(self, info: Ctx) -> Annotated[User, strawberry.lazy("gateway.schema.identity.types")] | None:
        return REFERENCES["Contact"]["user"].resolve(info, self)


def contact_connection(page: Any) -> Connection[Contact]:
    """From a ContactPage."""
    return connection(page, page.contacts, Contact.from_pb)


load_contact = read_by_id(loaders.contacts, Contact.from_pb)


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

    def to_pb(self) -> pb.ContactFilter:
        message = pb.ContactFilter(
            name=self.name or "",
            email=self.email or "",
            phone=self.phone or "",
            title=self.title or "",
            search=self.search or "",
        )
        for flag in ("portal_enabled", "is_user"):
            if getattr(self, flag) is not None:
                setattr(message, flag, getattr(self, flag))
        return message


def filter_pb(filter: ContactFilter | None) -> pb.ContactFilter:
    return filter.to_pb() if filter is not None else pb.ContactFilter()


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


def contact_input(values: Any) -> pb.ContactInput:
    """The ContactInput of any of the three inputs: only what the caller gave is set."""
    message = pb.ContactInput(
        first_name=values.first_name or "", last_name=values.last_name or "", email=values.email or ""
    )
    for optional in ("phone", "title", "is_primary"):
        value = getattr(values, optional, None)
        if value is not None:
            setattr(message, optional, value)
    return message


def _user(found: Any, ctx: PortalContext) -> Any:
    from gateway.schema.identity.types import User

    return User.from_pb(found)


def _account(found: Any, ctx: PortalContext) -> Any:
    from gateway.schema.identity.types import Account

    return Account.from_pb(found)


REFERENCES: References = {
    "Contact": {
        "user": Reference(identity_loaders.users, "user_id", _user),
        "account": Reference(identity_loaders.accounts, "account_id", _account),
    }
}

"""Identity's graph types: accounts, users, invitations, sessions, announcements, and their inputs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gateway.context import PortalContext
from gateway.schema.billing import loaders as billing_loaders
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
    page_size,
    read_by_id,
)
from gateway.schema.contacts import loaders as contact_loaders
from gateway.schema.identity import loaders
from gateway.schema.identity.enums import AnnouncementKind, InvitationStatus, Role, SupportTeam, UserStatus
from protos.identity.v1 import identity_pb2 as pb

if TYPE_CHECKING:
    from gateway.schema.billing.types import BillingSummary
    from gateway.schema.contacts.types import Contact, ContactFilter


@strawberry.type
class Invitation:
    id: strawberry.ID
    email: str
    status: InvitationStatus
    sent_at: datetime
    expires_at: datetime
    resend_count: int

    @classmethod
    def from_pb(cls, m: pb.Invitation) -> Invitation:
        return cls(
            id=strawberry.ID(m.id),
            email=m.email,
            status=InvitationStatus.from_pb(m.status),
            sent_at=dt(m.sent_at),
            expires_at=dt(m.expires_at),
            resend_count=m.resend_count,
        )


@strawberry.type(description="What an invitation link shows before the invitee has an account.")
class InvitationInfo:
    email: str
    account_name: str
    status: InvitationStatus
    expires_at: datetime

    @classmethod
    def from_pb(cls, m: pb.InvitationInfo) -> InvitationInfo:
        return cls(
            email=m.email,
            account_name=m.account_name,
            status=InvitationStatus.from_pb(m.status),
            expires_at=dt(m.expires_at),
        )


@strawberry.type
class EmailPreferences:
    maintenance: bool
    incident: bool
    case_updates: bool
    billing: bool

    @classmethod
    def from_pb(cls, m: pb.EmailPreferences) -> EmailPreferences:
        return cls(maintenance=m.maintenance, incident=m.incident, case_updates=m.case_updates, billing=m.billing)


@strawberry.type
class User(Node):
    id: strawberry.ID
    email: str
    name: str
    role: Role = on_read(lambda m: Role.from_pb(m.role))
    status: UserStatus = on_read(lambda m: UserStatus.from_pb(m.status))
    team: SupportTeam | None = on_read(lambda m: SupportTeam.from_pb(m.team) if m.team else None)
    created_at: datetime = on_read(lambda m: dt(m.created_at))
    last_login_at: datetime | None = on_read(lambda m: optional_dt(m, "last_login_at"))
    account_id: strawberry.Private[str]
    contact_id: strawberry.Private[str]
    message: strawberry.Private[pb.User]  # the nested parts are converted only when asked for

    @classmethod
    def from_pb(cls, m: pb.User) -> User:
        return made(
            cls, m, id=strawberry.ID(m.id), email=m.email, name=m.name, account_id=m.account_id, contact_id=m.contact_id
        )

    @strawberry.field
    def invitation(self) -> Invitation | None:
        return Invitation.from_pb(self.message.invitation) if self.message.HasField("invitation") else None

    @strawberry.field
    def email_preferences(self) -> EmailPreferences | None:
        m = self.message
        return EmailPreferences.from_pb(m.email_preferences) if m.HasField("email_preferences") else None

    @strawberry.field
    def account(self, info: Ctx) -> Account | None:
        return REFERENCES["User"]["account"].resolve(info, self)

    @strawberry.field(description="The contact this user was invited for, if any (null when not readable).")
    def contact(self, info: Ctx) -> Annotated[Contact, strawberry.lazy("gateway.schema.contacts.types")] | None:
        return REFERENCES["User"]["contact"].resolve(info, self)


def user_connection(page: Any) -> Connection[User]:
    """From a ListUsersResponse or a UserPage (same fields)."""
    return connection(page, page.users, User.from_pb)


@strawberry.type
class Account(Node):
    id: strawberry.ID
    number: str
    name: str
    portal_enabled: bool = strawberry.field(
        description="The provider's switch for this account: when off, no contact can be given portal access"
        " and the account's customer users cannot log in."
    )
    client_success_manager_id: strawberry.Private[str] = ""

    @classmethod
    def from_pb(cls, m: pb.Account) -> Account:
        return cls(
            id=strawberry.ID(m.id),
            number=m.number,
            name=m.name,
            portal_enabled=m.portal_enabled,
            client_success_manager_id=m.client_success_manager_id,
        )

    @strawberry.field(
        description="The account's dedicated Client Success Manager (a staff user); cases routed to"
        " CLIENT_SUCCESS go to them."
    )
    def client_success_manager(self, info: Ctx) -> User | None:
        return REFERENCES["Account"]["clientSuccessManager"].resolve(info, self)

    @strawberry.field(description="Who can grant access: the account's active administrators.")
    def admins(self, info: Ctx) -> list[User]:
        return REFERENCES["Account"]["admins"].resolve(info, self)

    @strawberry.field
    def users(
        self,
        info: Ctx,
        status: UserStatus | None = None,
        role: Role | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[User]:
        return REFERENCES["Account"]["users"].resolve(info, self, status=status, role=role, first=first, after=after)

    @strawberry.field
    def contacts(
        self,
        info: Ctx,
        filter: Annotated[ContactFilter, strawberry.lazy("gateway.schema.contacts.types")] | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Annotated[Contact, strawberry.lazy("gateway.schema.contacts.types")]]:
        return REFERENCES["Account"]["contacts"].resolve(info, self, filter=filter, first=first, after=after)

    @strawberry.field  # the same summary as billingSummary(accountId), one batch call per list of accounts
    def billing(self, info: Ctx) -> Annotated[BillingSummary, strawberry.lazy("gateway.schema.billing.types")] | None:
        return REFERENCES["Account"]["billing"].resolve(info, self)


@strawberry.type
class AuthPayload:
    access_token: str
    refresh_token: str
    expires_at: datetime
    user: User

    @classmethod
    def from_pb(cls, m: pb.AuthSession) -> AuthPayload:
        return cls(
            access_token=m.access_token,
            refresh_token=m.refresh_token,
            expires_at=dt(m.expires_at),
            user=User.from_pb(m.user),
        )


@strawberry.input
class InviteUserInput:
    email: str
    name: str
    role: Role = Role["USER"]


@strawberry.type(description="One row per requested invite: either the user or the reason it was refused.")
class InviteUserResult:
    email: str
    user: User | None
    error: str | None


@strawberry.input
class ImportUserInput:
    email: str
    name: str
    role: Role = Role["USER"]
    password_hash: str | None = strawberry.field(
        default=None,
        description="The previous system's hash (bcrypt, argon2 or PBKDF2 in their usual encodings); "
        "without one the user gets an invitation.",
    )


@strawberry.type
class ImportUserResult:
    email: str
    user: User | None
    error: str | None


@strawberry.input
class EmailPreferencesInput:
    maintenance: bool | None = None
    incident: bool | None = None
    case_updates: bool | None = None
    billing: bool | None = None


@strawberry.input
class CreateAccountInput:
    name: str
    number: str
    admin_email: str
    admin_name: str


@strawberry.input
class CreateStaffUserInput:
    email: str
    name: str
    role: Role
    team: SupportTeam | None = None


@strawberry.type
class Announcement(Node):
    id: strawberry.ID
    kind: AnnouncementKind
    title: str
    body: str
    starts_at: datetime
    ends_at: datetime | None
    published_at: datetime

    @classmethod
    def from_pb(cls, m: pb.Announcement) -> Announcement:
        return cls(
            id=strawberry.ID(m.id),
            kind=AnnouncementKind.from_pb(m.kind),
            title=m.title,
            body=m.body,
            starts_at=dt(m.starts_at),
            ends_at=optional_dt(m, "ends_at"),
            published_at=dt(m.published_at),
        )


@strawberry.input
class PublishAnnouncementInput:
    kind: AnnouncementKind
    title: str
    body: str
    starts_at: datetime
    ends_at: datetime | None = None


# --- by id: the node registry's resolvers, and other fields' ------------------------------------------


load_user = read_by_id(loaders.users, User.from_pb)


load_account = read_by_id(loaders.accounts, Account.from_pb)


load_announcement = read_by_id(loaders.announcements, Announcement.from_pb)


def _contact(found: Any, ctx: PortalContext) -> Any:
    from gateway.schema.contacts.types import Contact

    return Contact.from_pb(found)


def _billing_summary(found: Any, ctx: PortalContext) -> Any:
    from gateway.schema.billing.types import BillingSummary

    return BillingSummary.from_pb(found.message)


def _contacts_page(found: Any, ctx: PortalContext) -> Any:
    from gateway.schema.contacts.types import contact_connection

    return contact_connection(found)


def _contacts_page_key(filter: ContactFilter | None, first: int | None, after: str | None) -> tuple[Any, ...]:
    """Account.contacts' loader key past the account id: (filter serialized, order, page size, after)."""
    from gateway.schema.contacts.types import filter_pb

    return (filter_pb(filter).SerializeToString(deterministic=True), 0, page_size(first), after or "")


REFERENCES: References = {
    "User": {
        "account": Reference(loaders.accounts, "account_id", lambda found, _: Account.from_pb(found)),
        "contact": Reference(contact_loaders.contacts, "contact_id", _contact),
    },
    "Account": {
        "clientSuccessManager": Reference(
            loaders.users, "client_success_manager_id", lambda found, _: User.from_pb(found)
        ),
        "admins": Reference(loaders.admins, "id", lambda found, _: [User.from_pb(u) for u in found]),
        "users": Reference(
            loaders.account_users,
            "id",
            lambda found, _: user_connection(found),
            lambda status, role, first, after: (status, role, page_size(first), after or ""),
        ),
        "contacts": Reference(contact_loaders.account_contacts, "id", _contacts_page, _contacts_page_key),
        "billing": Reference(billing_loaders.summaries, "id", _billing_summary),
    },
}

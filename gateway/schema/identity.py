"""The identity part of the graph: accounts, users, sessions, invitations, announcements."""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from gateway.context import PortalContext
from gateway.errors import PortalError, bad_input
from gateway.schema.common import Node, PageInfo, dt, optional_dt, page_info, page_size
from portalkit.convert import to_timestamp
from protos.identity.v1 import identity_pb2 as pb


@strawberry.enum
class Role(enum.Enum):
    USER = "USER"
    MANAGER = "MANAGER"
    ADMIN = "ADMIN"
    AGENT = "AGENT"
    SUPPORT_ADMIN = "SUPPORT_ADMIN"


@strawberry.enum
class UserStatus(enum.Enum):
    INVITED = "INVITED"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


@strawberry.enum
class SupportTeam(enum.Enum):
    CUSTOMER_CARE = "CUSTOMER_CARE"
    TIER2 = "TIER2"
    PRODUCT_SUPPORT = "PRODUCT_SUPPORT"
    CLIENT_SUCCESS = "CLIENT_SUCCESS"


@strawberry.enum
class InvitationStatus(enum.Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


@strawberry.enum
class AnnouncementKind(enum.Enum):
    MAINTENANCE = "MAINTENANCE"
    INCIDENT = "INCIDENT"


def _enum(kind: type[enum.Enum], proto_enum: Any, value: int) -> Any:
    return kind[proto_enum.Name(value)]


Ctx = Info[PortalContext, None]


# --- loaders: one batch call per list --------------------------------------------------------


def _users_loader(ctx: PortalContext) -> DataLoader[str, User | None]:
    async def load(ids: list[str]) -> list[User | None]:
        reply = await ctx.call("identity", ctx.clients.identity.BatchGetUsers, pb.BatchGetUsersRequest(ids=ids))
        found = {u.id: User.from_pb(u) for u in reply.users}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def _accounts_loader(ctx: PortalContext) -> DataLoader[str, Account | None]:
    async def load(ids: list[str]) -> list[Account | None]:
        reply = await ctx.call("identity", ctx.clients.identity.BatchGetAccounts, pb.BatchGetAccountsRequest(ids=ids))
        found = {a.id: Account.from_pb(a) for a in reply.accounts}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def _admins_loader(ctx: PortalContext) -> DataLoader[str, list[User]]:
    async def load(account_ids: list[str]) -> list[list[User]]:
        reply = await ctx.call(
            "identity", ctx.clients.identity.ListAccountAdmins, pb.ListAccountAdminsRequest(account_ids=account_ids)
        )
        grouped: dict[str, list[User]] = defaultdict(list)
        for admin in reply.admins:
            grouped[admin.account_id].append(User.from_pb(admin))
        return [grouped[i] for i in account_ids]

    return DataLoader(load_fn=load)


async def load_user(info: Ctx, user_id: str) -> User | None:
    return await info.context.loader("users", _users_loader).load(user_id)


async def load_account(info: Ctx, account_id: str) -> Account | None:
    return await info.context.loader("accounts", _accounts_loader).load(account_id)


# --- types -------------------------------------------------------------------------------------


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
            status=_enum(InvitationStatus, pb.InvitationStatus, m.status),
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
    role: Role
    status: UserStatus
    team: SupportTeam | None
    invitation: Invitation | None
    email_preferences: EmailPreferences | None
    created_at: datetime
    last_login_at: datetime | None
    account_id: strawberry.Private[str]
    contact_id: strawberry.Private[str]

    @classmethod
    def from_pb(cls, m: pb.User) -> User:
        return cls(
            id=strawberry.ID(m.id),
            email=m.email,
            name=m.name,
            role=_enum(Role, pb.Role, m.role),
            status=_enum(UserStatus, pb.UserStatus, m.status),
            team=_enum(SupportTeam, pb.SupportTeam, m.team) if m.team else None,
            invitation=Invitation.from_pb(m.invitation) if m.HasField("invitation") else None,
            email_preferences=EmailPreferences.from_pb(m.email_preferences)
            if m.HasField("email_preferences")
            else None,
            created_at=dt(m.created_at),
            last_login_at=optional_dt(m, "last_login_at"),
            account_id=m.account_id,
            contact_id=m.contact_id,
        )

    @strawberry.field
    async def account(self, info: Ctx) -> Account | None:
        return await load_account(info, self.account_id) if self.account_id else None


@strawberry.type
class UserEdge:
    node: User
    cursor: str


@strawberry.type
class UserConnection:
    edges: list[UserEdge]
    page_info: PageInfo
    total_count: int


def _connection(users: list[User], cursors: list[str], next_page_token: str, total: int) -> UserConnection:
    return UserConnection(
        edges=[UserEdge(node=u, cursor=c) for u, c in zip(users, cursors, strict=True)],
        page_info=page_info(cursors, next_page_token),
        total_count=total,
    )


def _enums(status: UserStatus | None, role: Role | None) -> tuple[Any, Any]:
    return (
        pb.UserStatus.Value(status.value) if status else pb.USER_STATUS_UNSPECIFIED,
        pb.Role.Value(role.value) if role else pb.ROLE_UNSPECIFIED,
    )


async def list_users(
    info: Ctx, account_id: str, status: UserStatus | None, role: Role | None, first: int | None, after: str | None
) -> UserConnection:
    ctx = info.context
    status_value, role_value = _enums(status, role)
    request = pb.ListUsersRequest(
        account_id=account_id, status=status_value, role=role_value, page_size=page_size(first), page_token=after or ""
    )
    reply = await ctx.call("identity", ctx.clients.identity.ListUsers, request)
    return _connection(
        [User.from_pb(u) for u in reply.users], list(reply.cursors), reply.next_page_token, reply.total_count
    )


# Account.users in a list of accounts: one BatchListUsers call per distinct set of page arguments.
UsersPageKey = tuple[str, "UserStatus | None", "Role | None", int, str]


def _account_users_loader(ctx: PortalContext) -> DataLoader[UsersPageKey, UserConnection]:
    async def load(keys: list[UsersPageKey]) -> list[UserConnection]:
        groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for account_id, *page in keys:
            groups[tuple(page)].append(account_id)
        pages: dict[UsersPageKey, UserConnection] = {}
        for (status, role, size, after), account_ids in groups.items():
            status_value, role_value = _enums(status, role)
            request = pb.BatchListUsersRequest(
                account_ids=account_ids, status=status_value, role=role_value, page_size=size, page_token=after
            )
            reply = await ctx.call("identity", ctx.clients.identity.BatchListUsers, request)
            for page in reply.pages:
                connection = _connection(
                    [User.from_pb(u) for u in page.users], list(page.cursors), page.next_page_token, page.total_count
                )
                pages[(page.account_id, status, role, size, after)] = connection
        return [pages[key] for key in keys]

    return DataLoader(load_fn=load)


@strawberry.type
class Account(Node):
    id: strawberry.ID
    number: str
    name: str

    @classmethod
    def from_pb(cls, m: pb.Account) -> Account:
        return cls(id=strawberry.ID(m.id), number=m.number, name=m.name)

    @strawberry.field(description="Who can grant access: the account's active administrators.")
    async def admins(self, info: Ctx) -> list[User]:
        return await info.context.loader("admins", _admins_loader).load(str(self.id))

    @strawberry.field
    async def users(
        self,
        info: Ctx,
        status: UserStatus | None = None,
        role: Role | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> UserConnection:
        key = (str(self.id), status, role, page_size(first), after or "")
        return await info.context.loader("account_users", _account_users_loader).load(key)


@strawberry.type
class AccountEdge:
    node: Account
    cursor: str


@strawberry.type
class AccountConnection:
    edges: list[AccountEdge]
    page_info: PageInfo
    total_count: int


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
    role: Role = Role.USER


@strawberry.type(description="One row per requested invite: either the user or the reason it was refused.")
class InviteUserResult:
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
            kind=_enum(AnnouncementKind, pb.AnnouncementKind, m.kind),
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


# --- root fields ---------------------------------------------------------------------------------


def _identity(info: Ctx) -> Any:
    return info.context.clients.identity


async def _none_if_not_found(awaitable: Any) -> Any:
    try:
        return await awaitable
    except PortalError as error:
        if error.extensions and error.extensions.get("code") == "NOT_FOUND":
            return None
        raise


async def resolve_identity_node(info: Ctx, node_id: str) -> Node | None:
    if node_id.startswith("usr_"):
        return await load_user(info, node_id)
    if node_id.startswith("acc_"):
        return await load_account(info, node_id)
    if node_id.startswith("ann_"):
        reply = await info.context.call(
            "identity", _identity(info).BatchGetAnnouncements, pb.BatchGetAnnouncementsRequest(ids=[node_id])
        )
        return Announcement.from_pb(reply.announcements[0]) if reply.announcements else None
    return None


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="The logged-in user. UNAUTHENTICATED without a valid token.")
    async def me(self, info: Ctx) -> User:
        return User.from_pb(await info.context.call("identity", _identity(info).GetMe, pb.GetMeRequest()))

    @strawberry.field(description="Viewer's own account when id is omitted; staff may name any account.")
    async def account(self, info: Ctx, id: strawberry.ID | None = None) -> Account | None:
        request = pb.GetAccountRequest(id=id or "")
        reply = await _none_if_not_found(info.context.call("identity", _identity(info).GetAccount, request))
        return Account.from_pb(reply) if reply is not None else None

    @strawberry.field
    async def accounts(
        self, info: Ctx, search: str | None = None, first: int | None = 50, after: str | None = None
    ) -> AccountConnection:
        request = pb.ListAccountsRequest(search=search or "", page_size=page_size(first), page_token=after or "")
        reply = await info.context.call("identity", _identity(info).ListAccounts, request)
        accounts = [Account.from_pb(a) for a in reply.accounts]
        return AccountConnection(
            edges=[AccountEdge(node=a, cursor=c) for a, c in zip(accounts, reply.cursors, strict=True)],
            page_info=page_info(list(reply.cursors), reply.next_page_token),
            total_count=reply.total_count,
        )

    @strawberry.field
    async def users(
        self,
        info: Ctx,
        account_id: strawberry.ID | None = None,
        status: UserStatus | None = None,
        role: Role | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> UserConnection:
        return await list_users(info, account_id or "", status, role, first, after)

    @strawberry.field
    async def user(self, info: Ctx, id: strawberry.ID) -> User | None:
        return await load_user(info, id)

    @strawberry.field(description="Public: what an invitation link shows.")
    async def invitation(self, info: Ctx, token: str) -> InvitationInfo | None:
        call = info.context.call(
            "identity", _identity(info).GetInvitationInfo, pb.InvitationTokenRequest(token=token), auth=False
        )
        reply = await _none_if_not_found(call)
        if reply is None:
            return None
        return InvitationInfo(
            email=reply.email,
            account_name=reply.account_name,
            status=_enum(InvitationStatus, pb.InvitationStatus, reply.status),
            expires_at=dt(reply.expires_at),
        )

    @strawberry.field
    async def announcements(self, info: Ctx, active_only: bool | None = True) -> list[Announcement]:
        request = pb.ListAnnouncementsRequest(active_only=active_only is not False)
        reply = await info.context.call("identity", _identity(info).ListAnnouncements, request)
        return [Announcement.from_pb(a) for a in reply.announcements]


@strawberry.type
class IdentityMutation:
    @strawberry.mutation
    async def login(self, info: Ctx, email: str, password: str) -> AuthPayload:
        request = pb.LoginRequest(email=email, password=password, client_address=info.context.client_address)
        return AuthPayload.from_pb(await info.context.call("identity", _identity(info).Login, request, auth=False))

    @strawberry.mutation
    async def refresh_session(self, info: Ctx, refresh_token: str) -> AuthPayload:
        request = pb.RefreshSessionRequest(refresh_token=refresh_token)
        return AuthPayload.from_pb(
            await info.context.call("identity", _identity(info).RefreshSession, request, auth=False)
        )

    @strawberry.mutation
    async def logout(self, info: Ctx, refresh_token: str) -> bool:
        request = pb.LogoutRequest(refresh_token=refresh_token)
        reply = await info.context.call("identity", _identity(info).Logout, request, auth=False)
        return bool(reply.revoked)

    @strawberry.mutation(description="Always true, whether or not the address belongs to a user.")
    async def request_password_reset(self, info: Ctx, email: str) -> bool:
        request = pb.RequestPasswordResetRequest(email=email)
        await info.context.call("identity", _identity(info).RequestPasswordReset, request, auth=False)
        return True

    @strawberry.mutation
    async def reset_password(self, info: Ctx, token: str, new_password: str) -> bool:
        request = pb.ResetPasswordRequest(token=token, new_password=new_password)
        await info.context.call("identity", _identity(info).ResetPassword, request, auth=False)
        return True

    @strawberry.mutation
    async def change_password(self, info: Ctx, current_password: str, new_password: str) -> bool:
        request = pb.ChangePasswordRequest(current_password=current_password, new_password=new_password)
        await info.context.call("identity", _identity(info).ChangePassword, request)
        return True

    @strawberry.mutation
    async def accept_invitation(self, info: Ctx, token: str, password: str, name: str | None = None) -> AuthPayload:
        request = pb.AcceptInvitationRequest(token=token, password=password, name=name or "")
        return AuthPayload.from_pb(
            await info.context.call("identity", _identity(info).AcceptInvitation, request, auth=False)
        )

    @strawberry.mutation
    async def update_email_preferences(self, info: Ctx, input: EmailPreferencesInput) -> EmailPreferences:
        request = pb.UpdateEmailPreferencesRequest()
        for field in ("maintenance", "incident", "case_updates", "billing"):
            value = getattr(input, field)
            if value is not None:
                setattr(request, field, value)
        reply = await info.context.call("identity", _identity(info).UpdateEmailPreferences, request)
        return EmailPreferences.from_pb(reply)

    @strawberry.mutation(description="ADMIN of the account: several users in one submit ('Add another').")
    async def invite_users(
        self, info: Ctx, input: list[InviteUserInput], account_id: strawberry.ID | None = None
    ) -> list[InviteUserResult]:
        rows = [pb.InviteRow(email=r.email, name=r.name, role=pb.Role.Value(r.role.value)) for r in input]
        request = pb.InviteUsersRequest(account_id=account_id or "", rows=rows)
        reply = await info.context.call("identity", _identity(info).InviteUsers, request)
        return [
            InviteUserResult(
                email=r.email, user=User.from_pb(r.user) if r.HasField("user") else None, error=r.error or None
            )
            for r in reply.results
        ]

    @strawberry.mutation
    async def resend_invitation(self, info: Ctx, user_id: strawberry.ID) -> Invitation:
        reply = await info.context.call("identity", _identity(info).ResendInvitation, pb.UserIdRequest(user_id=user_id))
        return Invitation.from_pb(reply)

    @strawberry.mutation
    async def set_user_role(self, info: Ctx, user_id: strawberry.ID, role: Role) -> User:
        request = pb.SetUserRoleRequest(user_id=user_id, role=pb.Role.Value(role.value))
        return User.from_pb(await info.context.call("identity", _identity(info).SetUserRole, request))

    @strawberry.mutation
    async def deactivate_user(self, info: Ctx, user_id: strawberry.ID) -> User:
        request = pb.UserIdRequest(user_id=user_id)
        return User.from_pb(await info.context.call("identity", _identity(info).DeactivateUser, request))

    @strawberry.mutation
    async def activate_user(self, info: Ctx, user_id: strawberry.ID) -> User:
        request = pb.UserIdRequest(user_id=user_id)
        return User.from_pb(await info.context.call("identity", _identity(info).ActivateUser, request))

    @strawberry.mutation
    async def create_account(self, info: Ctx, input: CreateAccountInput) -> Account:
        request = pb.CreateAccountRequest(
            name=input.name, number=input.number, admin_email=input.admin_email, admin_name=input.admin_name
        )
        return Account.from_pb(await info.context.call("identity", _identity(info).CreateAccount, request))

    @strawberry.mutation
    async def create_staff_user(self, info: Ctx, input: CreateStaffUserInput) -> User:
        request = pb.CreateStaffUserRequest(
            email=input.email,
            name=input.name,
            role=pb.Role.Value(input.role.value),
            team=pb.SupportTeam.Value(input.team.value) if input.team else pb.SUPPORT_TEAM_UNSPECIFIED,
        )
        return User.from_pb(await info.context.call("identity", _identity(info).CreateStaffUser, request))

    @strawberry.mutation
    async def publish_announcement(self, info: Ctx, input: PublishAnnouncementInput) -> Announcement:
        if input.starts_at.tzinfo is None:
            raise bad_input("startsAt needs a UTC offset")
        request = pb.PublishAnnouncementRequest(
            kind=pb.AnnouncementKind.Value(input.kind.value),
            title=input.title,
            body=input.body,
            starts_at=to_timestamp(input.starts_at),
        )
        if input.ends_at is not None:
            if input.ends_at.tzinfo is None:
                raise bad_input("endsAt needs a UTC offset")
            request.ends_at.CopyFrom(to_timestamp(input.ends_at))
        reply = await info.context.call("identity", _identity(info).PublishAnnouncement, request)
        return Announcement.from_pb(reply)


@strawberry.type
class IdentitySubscription:
    @strawberry.subscription(description="Announcements as they are published.")
    async def announcement_published(self, info: Ctx) -> AsyncGenerator[Announcement, None]:
        ctx = info.context
        await ctx.caller()
        live = ctx.request.app.state.live
        async with live.listen("announcement.published") as events:
            async for event in events:
                request = pb.BatchGetAnnouncementsRequest(ids=[event["data"]["id"]])
                reply = await ctx.call("identity", _identity(info).BatchGetAnnouncements, request)
                for announcement in reply.announcements:
                    yield Announcement.from_pb(announcement)

"""Identity's mutations: sessions, passwords, invitations, users, accounts, announcements."""

from __future__ import annotations

import strawberry

from gateway.context import PortalContext
from gateway.errors import bad_input
from gateway.schema.common import Ctx, to_pb
from gateway.schema.identity.enums import Role
from gateway.schema.identity.types import (
    Account,
    Announcement,
    AuthPayload,
    CreateAccountInput,
    CreateStaffUserInput,
    EmailPreferences,
    EmailPreferencesInput,
    ImportUserInput,
    ImportUserResult,
    Invitation,
    InviteUserInput,
    InviteUserResult,
    PublishAnnouncementInput,
    User,
)
from portalkit.convert import to_timestamp
from protos.identity.v1 import identity_pb2 as pb


def signed_in(ctx: PortalContext, session: pb.AuthSession) -> AuthPayload:
    ctx.sign_in(session.access_token)
    return AuthPayload.from_pb(session)


@strawberry.type
class IdentityMutation:
    @strawberry.mutation
    async def login(self, info: Ctx, email: str, password: str) -> AuthPayload:
        ctx = info.context
        request = pb.LoginRequest(email=email, password=password, client_address=ctx.client_address)
        return signed_in(ctx, await ctx.call("identity", ctx.clients.identity.Login, request, auth=False))

    @strawberry.mutation
    async def refresh_session(self, info: Ctx, refresh_token: str) -> AuthPayload:
        ctx = info.context
        request = pb.RefreshSessionRequest(refresh_token=refresh_token)
        return signed_in(ctx, await ctx.call("identity", ctx.clients.identity.RefreshSession, request, auth=False))

    @strawberry.mutation
    async def logout(self, info: Ctx, refresh_token: str) -> bool:
        ctx = info.context
        request = pb.LogoutRequest(refresh_token=refresh_token)
        reply = await ctx.call("identity", ctx.clients.identity.Logout, request, auth=False)
        return bool(reply.revoked)

    @strawberry.mutation(description="Always true, whether or not the address belongs to a user.")
    async def request_password_reset(self, info: Ctx, email: str) -> bool:
        ctx = info.context
        request = pb.RequestPasswordResetRequest(email=email)
        await ctx.call("identity", ctx.clients.identity.RequestPasswordReset, request, auth=False)
        return True

    @strawberry.mutation
    async def reset_password(self, info: Ctx, token: str, new_password: str) -> bool:
        ctx = info.context
        request = pb.ResetPasswordRequest(token=token, new_password=new_password)
        await ctx.call("identity", ctx.clients.identity.ResetPassword, request, auth=False)
        return True

    @strawberry.mutation
    async def change_password(self, info: Ctx, current_password: str, new_password: str) -> bool:
        ctx = info.context
        request = pb.ChangePasswordRequest(current_password=current_password, new_password=new_password)
        await ctx.call("identity", ctx.clients.identity.ChangePassword, request)
        return True

    @strawberry.mutation
    async def accept_invitation(self, info: Ctx, token: str, password: str, name: str | None = None) -> AuthPayload:
        ctx = info.context
        request = pb.AcceptInvitationRequest(token=token, password=password, name=name or "")
        return signed_in(ctx, await ctx.call("identity", ctx.clients.identity.AcceptInvitation, request, auth=False))

    @strawberry.mutation
    async def update_email_preferences(self, info: Ctx, input: EmailPreferencesInput) -> EmailPreferences:
        ctx = info.context
        request = pb.UpdateEmailPreferencesRequest()
        for field in ("maintenance", "incident", "case_updates", "billing"):
            value = getattr(input, field)
            if value is not None:
                setattr(request, field, value)
        reply = await ctx.call("identity", ctx.clients.identity.UpdateEmailPreferences, request)
        return EmailPreferences.from_pb(reply)

    @strawberry.mutation(description="ADMIN of the account: several users in one submit ('Add another').")
    async def invite_users(
        self, info: Ctx, input: list[InviteUserInput], account_id: strawberry.ID | None = None
    ) -> list[InviteUserResult]:
        ctx = info.context
        rows = [pb.InviteRow(email=r.email, name=r.name, role=r.role.to_pb()) for r in input]
        request = pb.InviteUsersRequest(account_id=account_id or "", rows=rows)
        reply = await ctx.call("identity", ctx.clients.identity.InviteUsers, request)
        return [
            InviteUserResult(
                email=r.email, user=User.from_pb(r.user) if r.HasField("user") else None, error=r.error or None
            )
            for r in reply.results
        ]

    @strawberry.mutation
    async def resend_invitation(self, info: Ctx, user_id: strawberry.ID) -> Invitation:
        ctx = info.context
        request = pb.UserIdRequest(user_id=user_id)
        return Invitation.from_pb(await ctx.call("identity", ctx.clients.identity.ResendInvitation, request))

    @strawberry.mutation
    async def set_user_role(self, info: Ctx, user_id: strawberry.ID, role: Role) -> User:
        ctx = info.context
        request = pb.SetUserRoleRequest(user_id=user_id, role=role.to_pb())
        return User.from_pb(await ctx.call("identity", ctx.clients.identity.SetUserRole, request))

    @strawberry.mutation
    async def deactivate_user(self, info: Ctx, user_id: strawberry.ID) -> User:
        ctx = info.context
        request = pb.UserIdRequest(user_id=user_id)
        return User.from_pb(await ctx.call("identity", ctx.clients.identity.DeactivateUser, request))

    @strawberry.mutation
    async def activate_user(self, info: Ctx, user_id: strawberry.ID) -> User:
        ctx = info.context
        request = pb.UserIdRequest(user_id=user_id)
        return User.from_pb(await ctx.call("identity", ctx.clients.identity.ActivateUser, request))

    @strawberry.mutation
    async def create_account(self, info: Ctx, input: CreateAccountInput) -> Account:
        ctx = info.context
        request = pb.CreateAccountRequest(
            name=input.name, number=input.number, admin_email=input.admin_email, admin_name=input.admin_name
        )
        return Account.from_pb(await ctx.call("identity", ctx.clients.identity.CreateAccount, request))

    @strawberry.mutation(description="SUPPORT_ADMIN: the provider turns the portal on or off for one account.")
    async def set_account_portal_enabled(self, info: Ctx, account_id: strawberry.ID, enabled: bool) -> Account:
        ctx = info.context
        request = pb.SetAccountPortalEnabledRequest(account_id=account_id, enabled=enabled)
        return Account.from_pb(await ctx.call("identity", ctx.clients.identity.SetAccountPortalEnabled, request))

    @strawberry.mutation(description="SUPPORT_ADMIN: assign (or clear with null) the account's Client Success Manager.")
    async def set_client_success_manager(
        self, info: Ctx, account_id: strawberry.ID, user_id: strawberry.ID | None = None
    ) -> Account:
        ctx = info.context
        request = pb.SetClientSuccessManagerRequest(account_id=account_id, user_id=user_id or "")
        return Account.from_pb(await ctx.call("identity", ctx.clients.identity.SetClientSuccessManager, request))

    @strawberry.mutation
    async def create_staff_user(self, info: Ctx, input: CreateStaffUserInput) -> User:
        ctx = info.context
        request = pb.CreateStaffUserRequest(
            email=input.email, name=input.name, role=input.role.to_pb(), team=to_pb(input.team)
        )
        return User.from_pb(await ctx.call("identity", ctx.clients.identity.CreateStaffUser, request))

    @strawberry.mutation(
        description="SUPPORT_ADMIN: bring users over from a previous portal; a known password hash keeps their "
        "password working. Row by row, like inviteUsers."
    )
    async def import_users(
        self, info: Ctx, account_id: strawberry.ID, users: list[ImportUserInput]
    ) -> list[ImportUserResult]:
        ctx = info.context
        rows = [
            pb.ImportUserRow(email=u.email, name=u.name, role=u.role.to_pb(), password_hash=u.password_hash or "")
            for u in users
        ]
        request = pb.ImportUsersRequest(account_id=account_id, rows=rows)
        reply = await ctx.call("identity", ctx.clients.identity.ImportUsers, request)
        return [
            ImportUserResult(
                email=r.email, user=User.from_pb(r.user) if r.HasField("user") else None, error=r.error or None
            )
            for r in reply.results
        ]

    @strawberry.mutation
    async def publish_announcement(self, info: Ctx, input: PublishAnnouncementInput) -> Announcement:
        ctx = info.context
        if input.starts_at.tzinfo is None:
            raise bad_input("startsAt needs a UTC offset")
        request = pb.PublishAnnouncementRequest(
            kind=input.kind.to_pb(), title=input.title, body=input.body, starts_at=to_timestamp(input.starts_at)
        )
        if input.ends_at is not None:
            if input.ends_at.tzinfo is None:
                raise bad_input("endsAt needs a UTC offset")
            request.ends_at.CopyFrom(to_timestamp(input.ends_at))
        return Announcement.from_pb(await ctx.call("identity", ctx.clients.identity.PublishAnnouncement, request))

"""gRPC handlers of IdentityService: authenticate, convert, call the domain, convert back."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc.aio

from portalkit.auth import Caller
from portalkit.convert import from_timestamp, to_timestamp
from portalkit.enums import enum_name
from portalkit.grpc_server import caller as current_caller
from protos.identity.v1 import identity_pb2 as pb
from protos.identity.v1 import identity_pb2_grpc as pb_grpc
from services.identity import rules
from services.identity.domain import Identity, ImportRow, InviteOutcome, Session

Context: TypeAlias = grpc.aio.ServicerContext


def account_message(account: dict[str, Any]) -> pb.Account:
    return pb.Account(
        id=account["_id"],
        number=account["number"],
        name=account["name"],
        created_at=to_timestamp(account["created_at"]),
        portal_enabled=rules.portal_enabled(account),
        client_success_manager_id=account.get("client_success_manager_id") or "",
    )


def invitation_message(user: dict[str, Any], now: Any) -> pb.Invitation:
    invitation = user["invitation"]
    return pb.Invitation(
        id=invitation["id"],
        email=user["email"],
        status=pb.InvitationStatus.Value(rules.invitation_status(invitation, now)),
        sent_at=to_timestamp(invitation["sent_at"]),
        expires_at=to_timestamp(invitation["expires_at"]),
        resend_count=invitation.get("resend_count", 0),
    )


def user_message(user: dict[str, Any], caller: Caller | None, now: Any) -> pb.User:
    """Private parts (invitation, preferences, last login) only for those allowed to see them."""
    message = pb.User(
        id=user["_id"],
        email=user["email"],
        name=user["name"],
        role=pb.Role.Value(user["role"]),
        status=pb.UserStatus.Value(user["status"]),
        team=pb.SupportTeam.Value(user["team"]) if user.get("team") else pb.SUPPORT_TEAM_UNSPECIFIED,
        account_id=user.get("account_id", ""),
        contact_id=user.get("contact_id", ""),
        created_at=to_timestamp(user["created_at"]),
    )
    if caller is None or rules.can_read_private(caller, user):
        if user.get("invitation"):
            message.invitation.CopyFrom(invitation_message(user, now))
        prefs = {**rules.DEFAULT_EMAIL_PREFERENCES, **user.get("email_preferences", {})}
        message.email_preferences.CopyFrom(preferences_message(prefs))
        if user.get("last_login_at"):
            message.last_login_at.CopyFrom(to_timestamp(user["last_login_at"]))
    return message


def preferences_message(prefs: dict[str, bool]) -> pb.EmailPreferences:
    return pb.EmailPreferences(
        maintenance=prefs["maintenance"],
        incident=prefs["incident"],
        case_updates=prefs["case_updates"],
        billing=prefs["billing"],
    )


def announcement_message(announcement: dict[str, Any]) -> pb.Announcement:
    message = pb.Announcement(
        id=announcement["_id"],
        kind=pb.AnnouncementKind.Value(announcement["kind"]),
        title=announcement["title"],
        body=announcement["body"],
        starts_at=to_timestamp(announcement["starts_at"]),
        published_at=to_timestamp(announcement["published_at"]),
    )
    if announcement.get("ends_at"):
        message.ends_at.CopyFrom(to_timestamp(announcement["ends_at"]))
    return message


# Callable without an access token; every other method is guarded by the server (portalkit).
PUBLIC_METHODS = frozenset(
    {
        "Login",
        "RefreshSession",
        "Logout",
        "GetSigningKeys",
        "GetInvitationInfo",
        "AcceptInvitation",
        "RequestPasswordReset",
        "ResetPassword",
    }
)


class IdentityHandlers(pb_grpc.IdentityServiceServicer):
    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    def _now(self) -> Any:
        return self.identity.clock.now()

    def _session(self, session: Session) -> pb.AuthSession:
        return pb.AuthSession(
            access_token=session.access_token,
            refresh_token=session.refresh_token,
            expires_at=to_timestamp(session.expires_at),
            user=user_message(session.user, None, self._now()),
        )

    # sessions
    async def Login(self, request: pb.LoginRequest, context: Context) -> pb.AuthSession:
        return self._session(await self.identity.login(request.email, request.password, request.client_address))

    async def RefreshSession(self, request: pb.RefreshSessionRequest, context: Context) -> pb.AuthSession:
        return self._session(await self.identity.refresh(request.refresh_token))

    async def Logout(self, request: pb.LogoutRequest, context: Context) -> pb.LogoutResponse:
        return pb.LogoutResponse(revoked=await self.identity.logout(request.refresh_token))

    async def GetSigningKeys(self, request: pb.GetSigningKeysRequest, context: Context) -> pb.GetSigningKeysResponse:
        key = self.identity.issuer.public_key
        return pb.GetSigningKeysResponse(
            keys=[pb.SigningKey(key_id=key.key_id, algorithm="EdDSA", public_key_pem=key.pem)]
        )

    # reads
    async def GetMe(self, request: pb.GetMeRequest, context: Context) -> pb.User:
        caller = current_caller()
        return user_message(await self.identity.me(caller), caller, self._now())

    async def GetUser(self, request: pb.GetUserRequest, context: Context) -> pb.User:
        caller = current_caller()
        return user_message(await self.identity.get_user(caller, request.id), caller, self._now())

    async def BatchGetUsers(self, request: pb.BatchGetUsersRequest, context: Context) -> pb.BatchGetUsersResponse:
        caller = current_caller()
        users = await self.identity.get_users(caller, list(request.ids))
        return pb.BatchGetUsersResponse(users=[user_message(u, caller, self._now()) for u in users])

    async def ListUsers(self, request: pb.ListUsersRequest, context: Context) -> pb.ListUsersResponse:
        caller = current_caller()
        page = await self.identity.list_users(
            caller,
            request.account_id,
            enum_name(pb.UserStatus, request.status),
            enum_name(pb.Role, request.role),
            request.staff,
            request.page_size,
            request.page_token,
        )
        now = self._now()
        return pb.ListUsersResponse(
            users=[user_message(u, caller, now) for u in page.docs],
            next_page_token=page.next_token,
            total_count=page.total,
            cursors=page.cursors,
        )

    async def BatchListUsers(self, request: pb.BatchListUsersRequest, context: Context) -> pb.BatchListUsersResponse:
        caller = current_caller()
        pages = await self.identity.list_users_of_accounts(
            caller,
            list(request.account_ids),
            enum_name(pb.UserStatus, request.status),
            enum_name(pb.Role, request.role),
            request.page_size,
            request.page_token,
        )
        now = self._now()
        return pb.BatchListUsersResponse(
            pages=[
                pb.UserPage(
                    account_id=account_id,
                    users=[user_message(u, caller, now) for u in page.docs],
                    next_page_token=page.next_token,
                    total_count=page.total,
                    cursors=page.cursors,
                )
                for account_id, page in pages
            ]
        )

    async def GetAccount(self, request: pb.GetAccountRequest, context: Context) -> pb.Account:
        caller = current_caller()
        return account_message(await self.identity.get_account(caller, request.id))

    async def BatchGetAccounts(
        self, request: pb.BatchGetAccountsRequest, context: Context
    ) -> pb.BatchGetAccountsResponse:
        caller = current_caller()
        accounts = await self.identity.get_accounts(caller, list(request.ids))
        return pb.BatchGetAccountsResponse(accounts=[account_message(a) for a in accounts])

    async def ListAccounts(self, request: pb.ListAccountsRequest, context: Context) -> pb.ListAccountsResponse:
        caller = current_caller()
        page = await self.identity.list_accounts(caller, request.search, request.page_size, request.page_token)
        return pb.ListAccountsResponse(
            accounts=[account_message(a) for a in page.docs],
            next_page_token=page.next_token,
            total_count=page.total,
            cursors=page.cursors,
        )

    async def ListAccountAdmins(
        self, request: pb.ListAccountAdminsRequest, context: Context
    ) -> pb.ListAccountAdminsResponse:
        caller = current_caller()
        admins = await self.identity.account_admins(caller, list(request.account_ids))
        return pb.ListAccountAdminsResponse(admins=[user_message(u, caller, self._now()) for u in admins])

    # administration
    async def CreateAccount(self, request: pb.CreateAccountRequest, context: Context) -> pb.Account:
        caller = current_caller()
        account = await self.identity.create_account(
            caller, request.name, request.number, request.admin_email, request.admin_name
        )
        return account_message(account)

    async def SetAccountPortalEnabled(self, request: pb.SetAccountPortalEnabledRequest, context: Context) -> pb.Account:
        caller = current_caller()
        return account_message(await self.identity.set_portal_enabled(caller, request.account_id, request.enabled))

    async def SetClientSuccessManager(self, request: pb.SetClientSuccessManagerRequest, context: Context) -> pb.Account:
        caller = current_caller()
        account = await self.identity.set_client_success_manager(caller, request.account_id, request.user_id)
        return account_message(account)

    async def CreateStaffUser(self, request: pb.CreateStaffUserRequest, context: Context) -> pb.User:
        caller = current_caller()
        user = await self.identity.create_staff_user(
            caller,
            request.email,
            request.name,
            enum_name(pb.Role, request.role),
            enum_name(pb.SupportTeam, request.team),
        )
        return user_message(user, caller, self._now())

    async def InviteUsers(self, request: pb.InviteUsersRequest, context: Context) -> pb.InviteUsersResponse:
        caller = current_caller()
        rows = [(r.email, r.name, enum_name(pb.Role, r.role)) for r in request.rows]
        outcomes = await self.identity.invite_users(caller, request.account_id, rows)
        return pb.InviteUsersResponse(results=self._results(outcomes, caller))

    async def ImportUsers(self, request: pb.ImportUsersRequest, context: Context) -> pb.ImportUsersResponse:
        caller = current_caller()
        rows = [ImportRow(r.email, r.name, enum_name(pb.Role, r.role), r.password_hash) for r in request.rows]
        outcomes = await self.identity.import_users(caller, request.account_id, rows)
        return pb.ImportUsersResponse(results=self._results(outcomes, caller))

    def _results(self, outcomes: list[InviteOutcome], caller: Caller) -> list[pb.InviteResult]:
        now = self._now()
        results = []
        for outcome in outcomes:
            result = pb.InviteResult(email=outcome.email, error=outcome.error)
            if outcome.user is not None:
                result.user.CopyFrom(user_message(outcome.user, caller, now))
            results.append(result)
        return results

    async def ResendInvitation(self, request: pb.UserIdRequest, context: Context) -> pb.Invitation:
        caller = current_caller()
        user = await self.identity.resend_invitation(caller, request.user_id)
        return invitation_message(user, self._now())

    async def SetUserRole(self, request: pb.SetUserRoleRequest, context: Context) -> pb.User:
        caller = current_caller()
        user = await self.identity.set_role(caller, request.user_id, enum_name(pb.Role, request.role))
        return user_message(user, caller, self._now())

    async def DeactivateUser(self, request: pb.UserIdRequest, context: Context) -> pb.User:
        caller = current_caller()
        return user_message(await self.identity.deactivate(caller, request.user_id), caller, self._now())

    async def ActivateUser(self, request: pb.UserIdRequest, context: Context) -> pb.User:
        caller = current_caller()
        return user_message(await self.identity.activate(caller, request.user_id), caller, self._now())

    # invitations and passwords (public ones first)
    async def GetInvitationInfo(self, request: pb.InvitationTokenRequest, context: Context) -> pb.InvitationInfo:
        user, account_name, status = await self.identity.invitation_info(request.token)
        return pb.InvitationInfo(
            email=user["email"],
            account_name=account_name,
            status=pb.InvitationStatus.Value(status),
            expires_at=to_timestamp(user["invitation"]["expires_at"]),
        )

    async def AcceptInvitation(self, request: pb.AcceptInvitationRequest, context: Context) -> pb.AuthSession:
        return self._session(await self.identity.accept_invitation(request.token, request.password, request.name))

    async def RequestPasswordReset(self, request: pb.RequestPasswordResetRequest, context: Context) -> pb.Done:
        await self.identity.request_password_reset(request.email)
        return pb.Done(ok=True)

    async def ResetPassword(self, request: pb.ResetPasswordRequest, context: Context) -> pb.Done:
        await self.identity.reset_password(request.token, request.new_password)
        return pb.Done(ok=True)

    async def ChangePassword(self, request: pb.ChangePasswordRequest, context: Context) -> pb.Done:
        caller = current_caller()
        await self.identity.change_password(caller, request.current_password, request.new_password)
        return pb.Done(ok=True)

    async def UpdateEmailPreferences(
        self, request: pb.UpdateEmailPreferencesRequest, context: Context
    ) -> pb.EmailPreferences:
        caller = current_caller()
        changes = {field.name: value for field, value in request.ListFields()}
        return preferences_message(await self.identity.update_email_preferences(caller, changes))

    # announcements
    async def PublishAnnouncement(self, request: pb.PublishAnnouncementRequest, context: Context) -> pb.Announcement:
        caller = current_caller()
        announcement = await self.identity.publish_announcement(
            caller,
            enum_name(pb.AnnouncementKind, request.kind),
            request.title,
            request.body,
            from_timestamp(request.starts_at),
            from_timestamp(request.ends_at) if request.HasField("ends_at") else None,
        )
        return announcement_message(announcement)

    async def ListAnnouncements(
        self, request: pb.ListAnnouncementsRequest, context: Context
    ) -> pb.ListAnnouncementsResponse:
        found = await self.identity.announcements(request.active_only)
        return pb.ListAnnouncementsResponse(announcements=[announcement_message(a) for a in found])

    async def BatchGetAnnouncements(
        self, request: pb.BatchGetAnnouncementsRequest, context: Context
    ) -> pb.ListAnnouncementsResponse:
        found = await self.identity.get_announcements(list(request.ids))
        return pb.ListAnnouncementsResponse(announcements=[announcement_message(a) for a in found])

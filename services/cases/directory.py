"""The one synchronous read the cases service makes of another service: identity's users, fresh, with
a deadline (design.md 2: allowed for a read that must be fresh). Used for the requester's address
and `caseUpdates` preference when a mail is decided, and for an assignee's address.

The read is made as the caller of the request being served (their token is forwarded), so identity
applies its own rules: staff read everyone's preferences, a customer their own (an ADMIN their
account's). When the preference cannot be read, the answer is "unknown" and the domain decides.
"""

from __future__ import annotations

import logging

import grpc
import grpc.aio

from portalkit.errors import Unavailable
from portalkit.grpc_client import call, open_channel
from protos.identity.v1 import identity_pb2, identity_pb2_grpc
from services.cases.domain import Person

log = logging.getLogger(__name__)


class IdentityDirectory:
    def __init__(self, address: str, deadline: float = 2.0) -> None:
        self._address = address
        self._deadline = deadline
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> identity_pb2_grpc.IdentityServiceStub:
        if self._channel is None:  # made inside the running loop, on first use
            self._channel = open_channel(self._address, identity_pb2_grpc.IdentityServiceStub)
        return identity_pb2_grpc.IdentityServiceStub(self._channel)

    async def people(self, user_ids: list[str], token: str) -> dict[str, Person]:
        ids = [i for i in dict.fromkeys(user_ids) if i]
        if not ids or not token:
            return {}
        try:
            reply = await call(
                self._stub().BatchGetUsers,
                identity_pb2.BatchGetUsersRequest(ids=ids),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=self._deadline,
            )
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.aio.AioRpcError) else None
            log.warning("identity read failed", extra={"code": str(code)})
            raise Unavailable("the directory of users cannot be read right now; try again shortly") from None
        return {u.id: _person(u) for u in reply.users}


def _person(user: identity_pb2.User) -> Person:
    return Person(
        id=user.id,
        email=user.email,
        name=user.name,
        role=identity_pb2.Role.Name(user.role),
        active=user.status == identity_pb2.ACTIVE,
        team=identity_pb2.SupportTeam.Name(user.team) if user.team else "",
        account_id=user.account_id,
        case_updates=user.email_preferences.case_updates if user.HasField("email_preferences") else None,
    )

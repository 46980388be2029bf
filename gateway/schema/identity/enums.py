"""Identity's enums, built from identity.proto. A leaf module: other domains may import it."""

from __future__ import annotations

from gateway.schema.common import ProtoEnum, proto_enum
from protos.identity.v1 import identity_pb2 as pb


@proto_enum(pb.Role)
class Role(ProtoEnum):
    pass


@proto_enum(pb.UserStatus)
class UserStatus(ProtoEnum):
    pass


@proto_enum(pb.SupportTeam)
class SupportTeam(ProtoEnum):
    pass


@proto_enum(pb.InvitationStatus)
class InvitationStatus(ProtoEnum):
    pass


@proto_enum(pb.AnnouncementKind)
class AnnouncementKind(ProtoEnum):
    pass

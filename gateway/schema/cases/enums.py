"""Cases' enums, built from cases.proto. A leaf module: other domains may import it."""

from __future__ import annotations

from gateway.schema.common import ProtoEnum, proto_enum
from protos.cases.v1 import cases_pb2 as pb


@proto_enum(pb.CaseStatus)
class CaseStatus(ProtoEnum):
    pass


@proto_enum(pb.CasePriority)
class CasePriority(ProtoEnum):
    pass


@proto_enum(pb.Environment)
class Environment(ProtoEnum):
    pass


@proto_enum(pb.CaseChannel)
class CaseChannel(ProtoEnum):
    pass


@proto_enum(pb.CaseOrder)
class CaseOrder(ProtoEnum):
    pass

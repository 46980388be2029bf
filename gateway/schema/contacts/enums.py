"""Contacts' enums, built from contacts.proto. A leaf module: other domains may import it."""

from __future__ import annotations

from gateway.schema.common import ProtoEnum, proto_enum
from protos.contacts.v1 import contacts_pb2 as pb


@proto_enum(pb.PortalAccessStatus)
class PortalAccessStatus(ProtoEnum):
    pass


@proto_enum(pb.SyncStatus)
class SyncStatus(ProtoEnum):
    pass


@proto_enum(pb.ContactOrder)
class ContactOrder(ProtoEnum):
    pass

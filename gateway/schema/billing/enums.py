"""Billing's enums, built from billing.proto. A leaf module: other domains may import it."""

from __future__ import annotations

from gateway.schema.common import ProtoEnum, proto_enum
from protos.billing.v1 import billing_pb2 as pb


@proto_enum(pb.InvoiceStatus)
class InvoiceStatus(ProtoEnum):
    pass


@proto_enum(pb.PaymentStatus)
class PaymentStatus(ProtoEnum):
    pass


@proto_enum(pb.PaymentMethodType)
class PaymentMethodType(ProtoEnum):
    pass


@proto_enum(pb.UsageColumn)
class UsageColumn(ProtoEnum):
    pass


@proto_enum(pb.ExportFormat)
class ExportFormat(ProtoEnum):
    pass


@proto_enum(pb.ExportStatus)
class ExportStatus(ProtoEnum):
    pass

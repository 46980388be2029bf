"""One gRPC channel per service, created inside the running loop (stack-notes.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.billing.v1 import billing_pb2_grpc
from protos.cases.v1 import cases_pb2_grpc
from protos.contacts.v1 import contacts_pb2_grpc
from protos.identity.v1 import identity_pb2_grpc

STUBS = {
    "identity": identity_pb2_grpc.IdentityServiceStub,
    "contacts": contacts_pb2_grpc.ContactsServiceStub,
    "cases": cases_pb2_grpc.CasesServiceStub,
    "billing": billing_pb2_grpc.BillingServiceStub,
}


@dataclass
class ServiceClients:
    addresses: dict[str, str]
    deadline: float = 5.0
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)
    stubs: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        for name, address in self.addresses.items():
            channel = grpc.aio.insecure_channel(address, options=[("grpc.keepalive_time_ms", 30_000)])
            self.channels[name] = channel
            self.stubs[name] = STUBS[name](channel)

    @property
    def identity(self) -> identity_pb2_grpc.IdentityServiceStub:
        return self.stubs["identity"]

    async def health(self) -> dict[str, bool]:
        status = {}
        for name, channel in self.channels.items():
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=min(self.deadline, 2.0)
                )
                status[name] = reply.status == health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError:
                status[name] = False
        return status

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()

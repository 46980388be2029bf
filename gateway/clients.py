"""One gRPC channel per service (the kit's `open_channel`: retries, wait-for-ready, keepalive,
round_robin), created inside the running loop (stack-notes.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from portalkit.auth import PublicKey
from portalkit.grpc_client import call, open_channel
from protos.billing.v1 import billing_pb2_grpc
from protos.cases.v1 import cases_pb2_grpc
from protos.contacts.v1 import contacts_pb2_grpc
from protos.identity.v1 import identity_pb2, identity_pb2_grpc

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
            channel = open_channel(address, STUBS[name])
            self.channels[name] = channel
            self.stubs[name] = STUBS[name](channel)

    @property
    def identity(self) -> identity_pb2_grpc.IdentityServiceStub:
        return self.stubs["identity"]

    async def signing_keys(self) -> Sequence[PublicKey]:
        """Identity's public keys over this channel (retried, waits for a restarting identity)."""
        if "identity" not in self.stubs:
            raise RuntimeError("gateway clients not started")
        reply = await call(
            self.identity.GetSigningKeys, identity_pb2.GetSigningKeysRequest(), timeout=min(self.deadline, 3.0)
        )
        return [PublicKey(k.key_id, k.public_key_pem) for k in reply.keys]

    async def health(self) -> dict[str, bool]:
        status = {}
        for name, channel in self.channels.items():
            try:
                reply = await call(
                    health_pb2_grpc.HealthStub(channel).Check,
                    health_pb2.HealthCheckRequest(),
                    timeout=min(self.deadline, 2.0),
                    wait_for_ready=False,
                )
                status[name] = reply.status == health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError:
                status[name] = False
        return status

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()

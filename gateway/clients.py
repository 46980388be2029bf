"""One gRPC channel per service, created inside the running loop (stack-notes.md).

Each channel carries a service config: reads (Get*/List*/Search*/Check*/Count*) are retried on
UNAVAILABLE and every call waits for the channel to become ready within its own deadline, so a
restarting service costs a short wait instead of errors; keepalive notices dead connections and the
reconnect backoff is short. `round_robin` spreads calls over every address a name resolves to
(a headless Kubernetes Service gives one per pod)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import metrics

from portalkit.auth import PublicKey
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


READ_PREFIXES = ("Get", "List", "Search", "Check", "Count", "Batch", "Find", "Lookup")


def service_config(stub_class: Any) -> str:
    """gRPC service config (JSON) for one service's channel, from its generated descriptor."""
    module = __import__(stub_class.__module__.removesuffix("_grpc"), fromlist=["DESCRIPTOR"])
    (service,) = module.DESCRIPTOR.services_by_name.values()
    reads = [
        {"service": service.full_name, "method": method.name}
        for method in service.methods
        if method.name.startswith(READ_PREFIXES)
    ]
    retry = {
        "maxAttempts": 4,
        "initialBackoff": "0.1s",
        "maxBackoff": "1s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    config: dict[str, Any] = {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {"name": [{"service": service.full_name}], "waitForReady": True},
            *([{"name": reads, "waitForReady": True, "retryPolicy": retry}] if reads else []),
        ],
    }
    return json.dumps(config)


CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.enable_retries", 1),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


_client_duration = metrics.get_meter("portal.gateway").create_histogram(
    "rpc.client.duration", unit="ms", description="Duration of the gateway's outbound gRPC calls"
)


class _Duration(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """rpc.client.duration per call (OpenTelemetry RPC semantic conventions)."""

    async def _timed(self, continuation: Any, details: Any, request: Any, streaming: bool) -> Any:
        method = details.method.decode() if isinstance(details.method, bytes) else str(details.method)
        service, _, name = method.strip("/").partition("/")
        started = time.perf_counter()
        call = await continuation(details, request)
        if streaming:
            return call  # streams last as long as the client listens: not a latency
        code = grpc.StatusCode.OK
        try:
            await call  # the caller awaits the same call next and gets the same outcome
        except grpc.aio.AioRpcError as error:
            code = error.code()
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            _client_duration.record(
                (time.perf_counter() - started) * 1000,
                {
                    "rpc.system": "grpc",
                    "rpc.service": service,
                    "rpc.method": name,
                    "rpc.grpc.status_code": code.value[0],
                },
            )
        return call

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await self._timed(continuation, client_call_details, request, False)

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await self._timed(continuation, client_call_details, request, True)


@dataclass
class ServiceClients:
    addresses: dict[str, str]
    deadline: float = 5.0
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)
    stubs: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        for name, address in self.addresses.items():
            options = [*CHANNEL_OPTIONS, ("grpc.service_config", service_config(STUBS[name]))]
            channel = grpc.aio.insecure_channel(address, options=options, interceptors=[_Duration()])
            self.channels[name] = channel
            self.stubs[name] = STUBS[name](channel)

    @property
    def identity(self) -> identity_pb2_grpc.IdentityServiceStub:
        return self.stubs["identity"]

    async def signing_keys(self) -> Sequence[PublicKey]:
        """Identity's public keys over this channel (retried, waits for a restarting identity)."""
        if "identity" not in self.stubs:
            raise RuntimeError("gateway clients not started")
        reply = await self.identity.GetSigningKeys(
            identity_pb2.GetSigningKeysRequest(), timeout=min(self.deadline, 3.0)
        )
        return [PublicKey(k.key_id, k.public_key_pem) for k in reply.keys]

    async def health(self) -> dict[str, bool]:
        status = {}
        for name, channel in self.channels.items():
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=min(self.deadline, 2.0), wait_for_ready=False
                )
                status[name] = reply.status == health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError:
                status[name] = False
        return status

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()

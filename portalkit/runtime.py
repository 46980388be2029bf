"""Service bootstrap shared by every service: dependencies from config, start, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

from portalkit import config, mongo
from portalkit.auth import PublicKey, TokenVerifier
from portalkit.clock import Clock
from portalkit.events import EventBus, connect_bus
from portalkit.grpc_server import ServiceServer
from portalkit.mail import Mailer, mailer_from_settings
from portalkit.outbox import OutboxRelay
from portalkit.telemetry import setup_logging, setup_telemetry

log = logging.getLogger(__name__)


@dataclass
class ServiceDeps:
    """What a service is built from; the embedded run and tests construct it directly."""

    name: str
    settings: config.PortalSettings
    db: Any
    bus: EventBus
    mailer: Mailer
    clock: Clock
    verifier: TokenVerifier | None  # identity builds its own from its signing key


@dataclass
class RunningService:
    name: str
    server: ServiceServer
    relay: OutboxRelay
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. the domain object, for tests

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self) -> None:
        await self.server.stop()
        await self.relay.stop()


StartFn = Callable[[ServiceDeps, str], Awaitable[RunningService]]


async def serve(
    deps: ServiceDeps,
    address: str,
    register: Callable[[grpc.aio.Server], list[str]],
    outbox_collections: list[Any],
    extras: dict[str, Any],
    relay: OutboxRelay | None = None,
) -> RunningService:
    """The part every service's `start` shares: the outbox relay, then the gRPC server."""
    relay = relay or OutboxRelay(outbox_collections, deps.bus, deps.mailer, deps.settings.outbox_poll_seconds)
    server = ServiceServer(deps.name, register)
    relay.start()
    await server.start(address)
    return RunningService(deps.name, server, relay, extras)


def identity_key_source(address: str, deadline: float = 3.0) -> Callable[[], Awaitable[Sequence[PublicKey]]]:
    """Fetch identity's public signing keys over gRPC (a fresh read, with a deadline)."""
    from protos.identity.v1 import identity_pb2, identity_pb2_grpc

    channel: grpc.aio.Channel | None = None

    async def fetch() -> Sequence[PublicKey]:
        nonlocal channel
        if channel is None:
            channel = grpc.aio.insecure_channel(address)
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        response = await stub.GetSigningKeys(identity_pb2.GetSigningKeysRequest(), timeout=deadline)
        return [PublicKey(k.key_id, k.public_key_pem) for k in response.keys]

    return fetch


async def build_deps(name: str, *, allow_in_process_bus: bool = False) -> ServiceDeps:
    settings = config.PortalSettings()
    verifier = None
    if name != "identity":
        verifier = TokenVerifier(identity_key_source(config.service_grpc_address("identity")))
    return ServiceDeps(
        name=name,
        settings=settings,
        db=mongo.connect(config.service_mongodb_uri(name), f"portal_{name}"),
        bus=await connect_bus(settings.amqp_url, allow_in_process=allow_in_process_bus),
        mailer=mailer_from_settings(settings.smtp_url, settings.mail_dir),
        clock=Clock(),
        verifier=verifier,
    )


def run_service(name: str, start: StartFn) -> None:
    """Entry point of one service as its own process (docker-compose): runs until SIGTERM/SIGINT."""
    setup_logging()
    setup_telemetry(f"portal-{name}")

    async def main() -> None:
        deps = await build_deps(name)
        service = await start(deps, f"0.0.0.0:{config.service_grpc_port(name)}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("%s stopping", name)
        await service.stop()
        with contextlib.suppress(Exception):
            await deps.bus.close()

    asyncio.run(main())

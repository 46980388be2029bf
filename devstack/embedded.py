"""The embedded stack: four real gRPC services and the gateway in one process.

Used by `python -m devstack` (the newcomer's run) and by the test fixtures. Each service still owns
its database (in memory unless PORTAL_<SVC>_MONGODB_URI names a server) and its gRPC port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from gateway.app import create_app
from gateway.clients import ServiceClients
from portalkit import config, mongo
from portalkit.auth import TokenVerifier
from portalkit.clock import Clock
from portalkit.events import EventBus, InProcessBus, RetryPolicy, connect_bus
from portalkit.mail import Mailer, mailer_from_settings
from portalkit.runtime import RunningService, ServiceDeps, StartFn, identity_key_source
from services.billing.service import start as start_billing
from services.cases.service import start as start_cases
from services.contacts.service import start as start_contacts
from services.identity.service import start as start_identity

log = logging.getLogger(__name__)
STARTERS: dict[str, StartFn] = {
    "contacts": start_contacts,
    "cases": start_cases,
    "billing": start_billing,
}


@dataclass
class Stack:
    services: dict[str, RunningService]
    gateway_port: int
    buses: list[EventBus]
    clock: Clock
    _server: uvicorn.Server
    _server_task: asyncio.Task[None]
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.services[service].port}"

    async def stop(self) -> None:
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self._server_task, timeout=5)
        for service in reversed(list(self.services.values())):
            await service.stop()
        for bus in self.buses:
            with contextlib.suppress(Exception):
                await bus.close()


async def serve_http(app: Any, port: int = 0) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """Serve an ASGI app on loopback in this loop; returns once it listens (port 0 = any free one)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="websockets-sansio")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task, server.servers[0].sockets[0].getsockname()[1]


async def start_stack(
    settings: config.PortalSettings,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    allow_in_process_bus: bool = True,
    retry: RetryPolicy | None = None,
    fixed_ports: bool = False,
    gateway_port: int = 0,
) -> Stack:
    """Start identity first (the others fetch its signing keys), then the rest, then the gateway."""
    clock = clock or Clock()
    mailer = mailer or mailer_from_settings(settings.smtp_url, settings.mail_dir)
    shared_bus: EventBus | None = None
    buses: list[EventBus] = []

    async def new_bus() -> EventBus:
        """Each part gets its own broker connection; the in-process stand-in is one shared instance."""
        nonlocal shared_bus
        bus = await connect_bus(settings.amqp_url, allow_in_process=allow_in_process_bus, retry=retry)
        if isinstance(bus, InProcessBus):
            shared_bus = shared_bus or bus
            bus = shared_bus
        buses.append(bus)
        return bus

    async def deps_for(name: str, verifier: TokenVerifier | None) -> ServiceDeps:
        db = mongo.connect(config.service_mongodb_uri(name), f"portal_{name}")
        return ServiceDeps(name, settings, db, await new_bus(), mailer, clock, verifier)

    def address(name: str) -> str:
        return f"127.0.0.1:{config.service_grpc_port(name) if fixed_ports else 0}"

    services: dict[str, RunningService] = {}
    services["identity"] = await start_identity(await deps_for("identity", None), address("identity"))
    identity_address = f"127.0.0.1:{services['identity'].port}"
    for name, start in STARTERS.items():
        verifier = TokenVerifier(identity_key_source(identity_address))
        services[name] = await start(await deps_for(name, verifier), address(name))

    clients = ServiceClients(
        {name: f"127.0.0.1:{svc.port}" for name, svc in services.items()}, deadline=settings.grpc_deadline_seconds
    )
    gateway_bus = await new_bus()
    app = create_app(clients, TokenVerifier(identity_key_source(identity_address)), gateway_bus)
    server, task, port = await serve_http(app, gateway_port)
    return Stack(services, port, buses, clock, server, task, {"gateway_app": app})

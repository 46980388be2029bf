"""The embedded stack: four real gRPC services and the gateway in one process.

Used by `python -m devstack` (the newcomer's run) and by the test fixtures. Each service still owns
its database (in memory unless PORTAL_<SVC>_MONGODB_URI names a server) and its gRPC port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.serving import proxy_options
from portalkit import config
from portalkit.auth import TokenVerifier
from portalkit.clock import Clock
from portalkit.events import EventBus, InProcessBus, RetryPolicy, connect_bus
from portalkit.mail import Mailer
from portalkit.service import Infrastructure, Service
from portalkit.telemetry import component
from services.billing import service as billing
from services.cases import service as cases
from services.contacts import service as contacts
from services.identity import service as identity

log = logging.getLogger(__name__)
# The services of the stack: (build, settings class). identity first: the others fetch its keys.
SERVICES: dict[str, tuple[Callable[..., Service], type[config.ServiceSettings]]] = {
    "identity": (identity.build, identity.IdentitySettings),
    "contacts": (contacts.build, contacts.ContactsSettings),
    "cases": (cases.build, cases.CasesSettings),
    "billing": (billing.build, billing.BillingSettings),
}


@dataclass
class Stack:
    services: dict[str, Service]
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


async def serve_http(
    app: Any, port: int = 0, trusted_proxies: str = ""
) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """Serve an ASGI app on loopback in this loop; returns once it listens (port 0 = any free one).
    A port in use is one line naming PORTAL_GATEWAY_PORT (PortInUse), not uvicorn's traceback."""
    if port:
        config.ensure_port_free("127.0.0.1", port, "gateway", "PORTAL_GATEWAY_PORT")
    uvicorn_config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ws="websockets-sansio",
        **proxy_options(trusted_proxies),
    )
    server = uvicorn.Server(uvicorn_config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task, server.servers[0].sockets[0].getsockname()[1]


async def start_stack(
    overrides: dict[str, Any] | None = None,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    allow_in_process_bus: bool = True,
    retry: RetryPolicy | None = None,
    fixed_ports: bool = False,
    gateway_port: int = 0,
) -> Stack:
    """Each service built by its own `build` from its settings class (environment + `overrides`),
    on its own database; identity first (the others fetch its signing keys), then the gateway."""
    overrides = dict(overrides or {})
    overrides = overrides if fixed_ports else {"inbound_smtp_port": 0, **overrides}  # email-to-case on a free port
    clock = clock or Clock()
    shared: config.PortalSettings = config.settings_for(config.PortalSettings, overrides)
    shared_bus: EventBus | None = None
    buses: list[EventBus] = []

    async def new_bus() -> EventBus:
        """Each part gets its own broker connection; the in-process stand-in is one shared instance."""
        nonlocal shared_bus
        bus = await connect_bus(shared.amqp_url, allow_in_process=allow_in_process_bus, retry=retry)
        if isinstance(bus, InProcessBus):
            shared_bus = shared_bus or bus
            bus = shared_bus
        buses.append(bus)
        return bus

    services: dict[str, Service] = {}
    for name, (build, settings_class) in SERVICES.items():
        settings = config.settings_for(settings_class, overrides)
        try:
            # each part's telemetry under its own service.name, as if it ran as its own process
            with component(f"portal-{name}"):
                service = build(settings, Infrastructure(bus=await new_bus(), mailer=mailer, clock=clock))
                await service.start(f"127.0.0.1:{settings.grpc_port if fixed_ports else 0}")
        except BaseException:  # e.g. PortInUse: leave nothing of this stack running
            for started in reversed(list(services.values())):
                await started.stop()
            for bus in buses:
                with contextlib.suppress(Exception):
                    await bus.close()
            raise
        services[name] = service
        if name == "identity":
            overrides["identity_grpc_addr"] = f"127.0.0.1:{service.port}"

    with component("portal-gateway"):
        clients = ServiceClients(
            {name: f"127.0.0.1:{svc.port}" for name, svc in services.items()}, deadline=shared.grpc_deadline_seconds
        )
        app = create_app(
            clients,
            TokenVerifier(clients.signing_keys),
            await new_bus(),
            cors_origins=config.cors_origin_list(shared.cors_origins),
            introspection=shared.graphql_introspection,
            trusted_documents=shared.trusted_documents,
            batching=shared.graphql_batching,
        )
        server, task, port = await serve_http(app, gateway_port, shared.trusted_proxies)
    return Stack(services, port, buses, clock, server, task, {"gateway_app": app})

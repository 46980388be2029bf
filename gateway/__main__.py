"""`python -m gateway`: the gateway as its own process (docker-compose, Kubernetes), in
PORTAL_GATEWAY_WORKERS worker processes sharing its port (uvicorn's supervisor restarts a worker
that dies). Each worker builds its own app (`build_app`): its own gRPC channels, broker connection
and live-event queue, so a subscription gets its events whichever worker holds it."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.serving import proxy_options
from portalkit import config
from portalkit.auth import TokenVerifier
from portalkit.events import EventBus, connect_bus
from portalkit.telemetry import setup_logging, setup_telemetry

HOST = "0.0.0.0"  # noqa: S104 - in a container the gateway listens on all interfaces


def build_app() -> Starlette:
    """One worker's gateway (uvicorn calls this in each worker process, inside its loop)."""
    setup_logging()
    setup_telemetry("portal-gateway")
    settings = config.PortalSettings()
    clients = ServiceClients(
        {name: config.service_grpc_address(name) for name in config.SERVICES}, deadline=settings.grpc_deadline_seconds
    )

    async def bus() -> EventBus:
        return await connect_bus(settings.amqp_url, allow_in_process=False)

    return create_app(
        clients,
        TokenVerifier(clients.signing_keys),  # over the identity channel: retries, waits for ready
        bus,
        cors_origins=config.cors_origin_list(settings.cors_origins),
        introspection=settings.graphql_introspection,
        trusted_documents=settings.trusted_documents,
        batching=settings.graphql_batching,
    )


def main() -> None:
    setup_logging()
    settings = config.PortalSettings()
    config.ensure_port_free(HOST, settings.gateway_port, "gateway", "PORTAL_GATEWAY_PORT")
    uvicorn.run(
        "gateway.__main__:build_app",
        factory=True,
        host=HOST,
        port=settings.gateway_port,
        workers=settings.gateway_workers,
        loop="uvloop",  # the faster event loop (uvicorn[standard] brings it); grpc.aio runs on it
        ws="websockets-sansio",
        log_config=None,  # uvicorn's records go through our JSON handler
        **proxy_options(settings.trusted_proxies),
    )


if __name__ == "__main__":
    main()

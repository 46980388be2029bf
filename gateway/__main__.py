"""`python -m gateway`: the gateway as its own process (docker-compose)."""

from __future__ import annotations

import uvicorn
import uvloop

from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.serving import proxy_options
from portalkit import config
from portalkit.auth import TokenVerifier
from portalkit.events import connect_bus
from portalkit.telemetry import setup_logging, setup_telemetry


def main() -> None:
    setup_logging()
    setup_telemetry("portal-gateway")
    settings = config.PortalSettings()
    clients = ServiceClients(
        {name: config.service_grpc_address(name) for name in config.SERVICES}, deadline=settings.grpc_deadline_seconds
    )
    verifier = TokenVerifier(clients.signing_keys)  # over the identity channel: retries, waits for ready

    host = "0.0.0.0"  # noqa: S104 - in a container the gateway listens on all interfaces
    config.ensure_port_free(host, settings.gateway_port, "gateway", "PORTAL_GATEWAY_PORT")

    async def serve() -> None:
        bus = await connect_bus(settings.amqp_url, allow_in_process=False)
        app = create_app(
            clients,
            verifier,
            bus,
            cors_origins=config.cors_origin_list(settings.cors_origins),
            introspection=settings.graphql_introspection,
            trusted_documents=settings.trusted_documents,
            batching=settings.graphql_batching,
        )
        host = "0.0.0.0"  # noqa: S104 - in a container the gateway listens on all interfaces
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=settings.gateway_port,
                ws="websockets-sansio",
                log_config=None,  # uvicorn's records go through our JSON handler
                **proxy_options(settings.trusted_proxies),
            )
        )
        await server.serve()

    uvloop.run(serve())  # the faster event loop (uvicorn[standard] brings it); grpc.aio runs on it


if __name__ == "__main__":
    main()

"""The gateway's ASGI app: GraphQL (HTTP + WebSocket), GraphiQL served locally, health endpoints."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from cross_web import HTTPException
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.starlette import StarletteInstrumentor
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from gateway import graphiql_assets
from gateway.clients import ServiceClients
from gateway.context import PortalContext
from gateway.live import LiveEvents
from gateway.schema.billing.downloads import download_routes
from gateway.schema.root import schema
from portalkit.auth import TokenVerifier
from portalkit.events import EventBus

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1 << 20  # JSON bodies; uploads get their own limit


def _error_body(message: str, code: str, reason: str = "") -> dict[str, Any]:
    extensions = {"code": code, **({"reason": reason} if reason else {})}
    return {"data": None, "errors": [{"message": message, "extensions": extensions}]}


class PortalGraphQL(GraphQL[PortalContext, None]):
    def __init__(self, clients: ServiceClients, verifier: TokenVerifier, live: LiveEvents) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            allow_queries_via_get=False,
        )
        self.clients = clients
        self.verifier = verifier
        self.live = live

    async def get_context(self, request: Request | WebSocket, response: Any) -> PortalContext:
        authorization = request.headers.get("authorization", "")
        return PortalContext(
            request=request,
            clients=self.clients,
            verifier=self.verifier,
            live=self.live,
            token=authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else "",
            response=response,
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        if not graphiql_assets.assets_installed():
            return HTMLResponse("GraphiQL assets are not installed: run scripts/install_graphiql.sh", 503)
        return HTMLResponse(graphiql_assets.graphiql_page())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.run(request)
        except HTTPException as error:
            # strawberry answers a non-JSON body etc. in plain text; our clients get JSON errors
            code = "BAD_USER_INPUT" if error.status_code == 400 else "BAD_REQUEST"
            response = JSONResponse(_error_body(error.reason, code), status_code=error.status_code)
        await response(scope, receive, send)


class BodySizeLimit:
    """Refuse request bodies over the limit before reading them into memory."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.limit):
                body = _error_body(f"request body over {self.limit} bytes", "BAD_USER_INPUT", "BODY_TOO_LARGE")
                await JSONResponse(body, status_code=413)(scope, receive, send)
                return
            received = 0

            async def limited_receive() -> Any:
                nonlocal received
                message = await receive()
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, "request body too large")
                return message

            await self.app(scope, limited_receive, send)
            return
        await self.app(scope, receive, send)


class FreshTraceContext:
    """Each inbound request starts from an empty OpenTelemetry context: its parent can only come
    from the caller's traceparent header, never from whatever the serving task happened to carry."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = otel_context.attach(otel_context.Context())
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)


def create_app(clients: ServiceClients, verifier: TokenVerifier, bus: EventBus | None) -> Starlette:
    """`clients` are started in the lifespan (channels must be made inside the running loop)."""
    live = LiveEvents()
    graphql = PortalGraphQL(clients, verifier, live)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        clients.start()
        if bus is not None:
            await live.start(bus)
        yield
        await clients.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        services = await clients.health()
        ready = all(services.values())
        return JSONResponse({"ready": ready, "services": services}, status_code=200 if ready else 503)

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *graphiql_assets.graphiql_routes(),
            *download_routes(clients),
        ],
        lifespan=lifespan,
    )
    app.state.live = live  # for tests and ops; resolvers use info.context.live
    app.add_middleware(BodySizeLimit)
    StarletteInstrumentor.instrument_app(app)
    app.add_middleware(FreshTraceContext)  # added last: outermost
    return app

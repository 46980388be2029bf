"""The gateway's ASGI app: GraphQL (HTTP + WebSocket), GraphiQL served locally, health endpoints."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from cross_web import HTTPException
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.starlette import StarletteInstrumentor
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
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
from gateway.schema.root import schema
from gateway.tracing import PortalTracing
from portalkit.auth import TokenVerifier
from portalkit.events import EventBus

log = logging.getLogger(__name__)
if PortalTracing not in schema.extensions:  # GraphQL spans per operation and resolver, secrets filtered
    schema.extensions = (*schema.extensions, PortalTracing)
MAX_BODY_BYTES = 1 << 20  # JSON bodies; uploads get their own limit
GZIP_MINIMUM_BYTES = 1024
# What browser GraphQL clients send (graphql-ws negotiates on the WebSocket, which CORS does not gate).
CORS_HEADERS = ("Authorization", "Content-Type", "Accept", "traceparent", "tracestate")


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


access_log = logging.getLogger("gateway.access")


class AccessLog:
    """One JSON access log line per HTTP request, inside the request's server span (so it carries
    its trace and span ids); uvicorn's own access log stays off."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            context = trace.get_current_span().get_span_context()
            client = scope.get("client") or ("", 0)
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "http.request.method": scope["method"],
                    "url.path": scope["path"],
                    "http.response.status_code": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client.address": client[0],
                    "trace_id": format(context.trace_id, "032x") if context.is_valid else "",
                    "span_id": format(context.span_id, "016x") if context.is_valid else "",
                },
            )


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


def create_app(
    clients: ServiceClients, verifier: TokenVerifier, bus: EventBus | None, *, cors_origins: Sequence[str] = ()
) -> Starlette:
    """`clients` are started in the lifespan (channels must be made inside the running loop).
    `cors_origins`: browser origins allowed to call (PORTAL_CORS_ORIGINS); empty = same origin only."""
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
        """Ready = this gateway answers and can verify tokens. A service being down is not a reason
        to drain every replica (its fields fail alone); see /healthz/detail for each dependency."""
        keys = await verifier.ready()
        return JSONResponse({"ready": keys, "signingKeys": keys}, status_code=200 if keys else 503)

    async def health_detail(request: Request) -> Response:
        services = await clients.health()
        keys = await verifier.ready()
        connection = getattr(bus, "_connection", None)
        broker = None if bus is None else connection is None or not getattr(connection, "is_closed", False)
        return JSONResponse({"ready": keys, "signingKeys": keys, "services": services, "broker": broker})

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/healthz/detail", health_detail),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *graphiql_assets.graphiql_routes(),
        ],
        lifespan=lifespan,
    )
    app.state.live = live  # for tests and ops; resolvers use info.context.live
    app.add_middleware(BodySizeLimit)
    app.add_middleware(
        GZipMiddleware,
        minimum_size=GZIP_MINIMUM_BYTES,
        compresslevel=6,
        exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "multipart/mixed"),
    )
    if cors_origins:
        wildcard = "*" in cors_origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=["*"] if wildcard else list(cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=list(CORS_HEADERS),
            allow_credentials=not wildcard,  # never credentials for any origin
            max_age=600,
        )
    app.add_middleware(AccessLog)  # inside the server span added next
    StarletteInstrumentor.instrument_app(app)
    app.add_middleware(FreshTraceContext)  # added last: outermost
    return app

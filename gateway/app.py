"""The gateway's ASGI app: GraphQL (HTTP + WebSocket), GraphiQL served locally, health endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from asyncio import FIRST_COMPLETED
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.instrumentation import starlette as starlette_instrumentation
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from gateway import graphiql_assets, http_spec
from gateway.clients import ServiceClients
from gateway.context import PortalContext
from gateway.documents import Documents, load_trusted
from gateway.errors import PortalError
from gateway.live import LiveEvents
from gateway.schema.billing.downloads import download_routes
from gateway.schema.cases.downloads import attachment_route
from gateway.schema.root import POLICY, schema
from gateway.tokens import CachedVerifier
from gateway.tracing import portal_tracing
from portalkit import telemetry
from portalkit.auth import TokenVerifier
from portalkit.events import EventBus
from portalkit.service import settle_heap

log = logging.getLogger(__name__)
if portal_tracing not in schema.extensions:  # GraphQL spans per operation and resolver, secrets filtered
    schema.extensions = (*schema.extensions, portal_tracing)
MAX_BODY_BYTES = 1 << 20  # JSON bodies; uploads get their own limit
MAX_SOCKETS_PER_CLIENT = 50
WS_INIT_SECONDS = 10.0
REQUEST_ERROR_REASONS = {405: "METHOD_NOT_ALLOWED", 413: "BODY_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}
MAX_UPLOAD_BODY_BYTES = 4 << 20  # multipart GraphQL uploads (case attachments: the cases service checks each file)
GZIP_MINIMUM_BYTES = 1024
# What browser GraphQL clients send (graphql-ws negotiates on the WebSocket, which CORS does not gate).
CORS_HEADERS = ("Authorization", "Content-Type", "Accept", "traceparent", "tracestate")
POST_OPERATION_TYPES = frozenset((OperationType.QUERY, OperationType.MUTATION))  # a subscription streams
PROPAGATED_HEADERS = frozenset((b"traceparent", b"tracestate", b"baggage"))  # what the W3C propagators read
CONTEXT_SCOPE_KEY = "portal.context"  # an HTTP request's PortalContext, in its ASGI scope: see __call__


def _error_body(message: str, code: str, reason: str = "") -> dict[str, Any]:
    extensions = {"code": code, **({"reason": reason} if reason else {})}
    return {"data": None, "errors": [{"message": message, "extensions": extensions}]}


class PortalGraphQL(GraphQL[PortalContext, None]):
    def __init__(
        self, clients: ServiceClients, verifier: TokenVerifier, live: LiveEvents, documents: Documents | None = None
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=WS_INIT_SECONDS),
            allow_queries_via_get=True,
            multipart_uploads_enabled=True,  # case attachments; every call also needs the bearer token
        )
        self.clients = clients
        self.verifier = CachedVerifier(verifier)
        self.live = live
        self._sockets: Counter[str] = Counter()  # open WebSockets per client address
        self.documents = documents or Documents()

    async def get_context(self, request: Request | WebSocket, response: Any) -> PortalContext:
        authorization = request.headers.get("authorization", "")
        context = PortalContext(
            request=request,
            clients=self.clients,
            verifier=self.verifier,
            live=self.live,
            token=authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else "",
            response=response,
        )
        if request.scope["type"] == "http":
            request.scope[CONTEXT_SCOPE_KEY] = context
        return context

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The same limits for both subprotocols: at most MAX_SOCKETS_PER_CLIENT sockets per client
        address, and a socket that has not sent `connection_init` within WS_INIT_SECONDS is closed
        (4408), so idle unauthenticated sockets cannot pile up."""
        client = (scope.get("client") or ("", 0))[0]
        if self._sockets[client] >= MAX_SOCKETS_PER_CLIENT:
            await send({"type": "websocket.close", "code": 4429, "reason": "too many sockets from this address"})
            return
        self._sockets[client] += 1
        initialized = asyncio.Event()

        async def watched_receive() -> Any:
            message = await receive()
            if not initialized.is_set() and '"connection_init"' in (message.get("text") or ""):
                initialized.set()
            return message

        handler = asyncio.ensure_future(super().__call__(scope, watched_receive, send))
        waiting = asyncio.ensure_future(initialized.wait())
        try:
            done, _ = await asyncio.wait({handler, waiting}, timeout=WS_INIT_SECONDS, return_when=FIRST_COMPLETED)
            if not done:
                handler.cancel()
                with contextlib.suppress(Exception):
                    await send({"type": "websocket.close", "code": 4408, "reason": "connection_init timeout"})
            await asyncio.gather(handler, return_exceptions=True)
        finally:
            waiting.cancel()
            self._sockets[client] -= 1
            if not self._sockets[client]:
                del self._sockets[client]

    def should_render_graphql_ide(self, request: Any) -> bool:
        """GraphiQL for a browser's plain GET; a GET that carries an operation (a query, or only a
        persisted query's hash in `extensions`) is a GraphQL request, whatever its Accept says."""
        return super().should_render_graphql_ide(request) and "extensions" not in request.query_params

    def encode_json(self, data: object) -> str:
        # several times faster than json.dumps for result trees; text, as WebSocket frames need
        return orjson.dumps(data).decode()

    def parse_json(self, data: str | bytes) -> Any:
        """A body that is not a JSON object (null, a number, invalid UTF-8, nesting deep enough to
        exhaust the decoder) is the client's mistake: 400 with a coded JSON error, never a 500."""
        try:
            parsed = self.decode_json(data)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise HTTPException(400, "the request body is not valid JSON") from exc
        if not isinstance(parsed, dict | list):  # a list is a batch (refused unless batching is on)
            raise HTTPException(400, "expected a JSON object")
        return parsed

    async def parse_http_body(self, request: Any) -> Any:
        """Strawberry's parsing, then the document each operation runs (persisted or trusted)."""
        parsed = await super().parse_http_body(request)
        operations = parsed if isinstance(parsed, list) else [parsed]
        resolved = [dataclasses.replace(op, query=self.documents.resolve(op.query, op.extensions)) for op in operations]
        return resolved if isinstance(parsed, list) else resolved[0]

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if context is UNSET and root_value is UNSET and isinstance(request, Request) and request.method == "POST":
            answered = await self._run_runnable(request)
            if answered is not None:
                return answered
        return await super().run(request, context, root_value)

    async def _run_runnable(self, request: Request) -> Response | None:
        """A POSTed JSON operation whose document is runnable (PortalSchema.runnable) is answered
        here with the view's own hooks (parse_json, documents, get_context, process_result,
        create_response), without what the view's general path does for every transport and
        shape: its request adapter, content-type and streaming-protocol parsing, and its checks of
        the result for streams. None: the view's path (a body it reports, a batch, a streaming
        Accept, a document not runnable yet), which reads the same cached body."""
        content_type = request.headers.get("content-type", "")
        accept = request.headers.get("accept", "")
        if content_type.partition(";")[0].strip().lower() != "application/json" or "multipart/mixed" in accept:
            return None
        if "text/event-stream" in accept:
            return None
        try:
            data = self.parse_json(await request.body())
        except HTTPException:
            return None
        if not isinstance(data, dict):
            return None
        variables, extensions, operation_name = data.get("variables"), data.get("extensions"), data.get("operationName")
        if not isinstance(variables, dict | None) or not isinstance(extensions, dict | None):
            return None
        query = self.documents.resolve(data.get("query"), extensions)
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        runnable = schema.runnable(query, operation_name, context, variables, POST_OPERATION_TYPES)
        if runnable is None:
            return None
        # no root value: this view's is None (GraphQL[PortalContext, None])
        result = await schema.execute_runnable(runnable, variables, context, None, operation_name, extensions)
        response_data = await self.process_result(request, result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data, sub_response)

    async def render_graphql_ide(self, request: Request) -> Response:
        if not graphiql_assets.assets_installed():
            return HTMLResponse("GraphiQL assets are not installed: run scripts/install_graphiql.sh", 503)
        return HTMLResponse(graphiql_assets.graphiql_page())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._socket(scope, receive, send)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        media = http_spec.JSON if http_spec.wants_ide(request) else http_spec.negotiate(request.headers.get("accept"))
        if media is None:
            body = _error_body("answers are application/graphql-response+json or application/json", "BAD_USER_INPUT")
            await JSONResponse(body, status_code=406)(scope, receive, send)
            return
        try:
            response = await self.run(request)
        except PortalError as error:  # the request's document is unknown or not allowed
            response = JSONResponse({"errors": [error.formatted]}, status_code=200)
        except HTTPException as error:
            # strawberry answers a non-JSON body etc. in plain text; our clients get coded JSON errors
            status = error.status_code
            if request.method == "GET" and status == 400 and "mutation" in error.reason:
                status = 405  # a mutation over GET: the method is wrong, not the document
            reason = REQUEST_ERROR_REASONS.get(status, "INVALID_REQUEST")
            response = JSONResponse(_error_body(error.reason, "BAD_USER_INPUT", reason), status_code=status)
            if status == 405:
                response.headers["allow"] = "POST"
        context = scope.pop(CONTEXT_SCOPE_KEY, None)
        # a stream (a subscription, incremental delivery) still executes: its context lives as long
        if context is not None and not isinstance(response, StreamingResponse):
            context.release()
        if not response.headers.get("content-type", "").startswith("text/html"):
            response = http_spec.shape(request, response, media)
        await response(scope, receive, send)


class BodySizeLimit:
    """Refuse request bodies over the limit before reading them into memory."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            multipart = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
            limit = MAX_UPLOAD_BODY_BYTES if multipart else self.limit
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                body = _error_body(f"request body over {limit} bytes", "BAD_USER_INPUT", "BODY_TOO_LARGE")
                await JSONResponse(body, status_code=413)(scope, receive, send)
                return
            if length is not None:  # the server reads no more than Content-Length says
                await self.app(scope, receive, send)
                return
            received = 0

            async def limited_receive() -> Any:
                nonlocal received
                message = await receive()
                received += len(message.get("body", b""))
                if received > limit:
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
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
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
            self._log(scope, status, started)

    @staticmethod
    def _log(scope: Scope, status: int, started: float) -> None:
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


class RequestEdge:
    """The outermost layer. Each request starts from an empty OpenTelemetry context (its parent can
    only come from the caller's traceparent header, never from whatever the serving task carried)
    and runs inside its server span. While spans are exported or metrics read, OpenTelemetry's ASGI
    middleware makes that span and the HTTP server metrics (`observed`); otherwise the span is the
    sampler's dropped one, made directly: the same trace and span ids for logs and for the calls
    behind it, without the instrumentation's per-header and per-attribute work nothing would read."""

    def __init__(
        self,
        app: ASGIApp,
        observed: Callable[[], bool] | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.app = app
        self.observed = observed or (lambda: telemetry.spans_exported() or telemetry.metrics_read())
        instrumentation = starlette_instrumentation.__name__, starlette_instrumentation.__version__
        self.instrumented = OpenTelemetryMiddleware(
            app,
            excluded_urls=starlette_instrumentation._excluded_urls,  # OTEL_PYTHON_STARLETTE_EXCLUDED_URLS
            default_span_details=starlette_instrumentation._get_default_span_details,  # "POST /graphql"
            tracer=trace.get_tracer(*instrumentation, tracer_provider),
            meter=metrics.get_meter(*instrumentation),
            exclude_spans=["receive", "send"],  # one span per request, not three
        )
        self.tracer = trace.get_tracer(*instrumentation, tracer_provider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = otel_context.attach(otel_context.Context())
        try:
            if scope["type"] not in ("http", "websocket") or self.observed():
                await self.instrumented(scope, receive, send)
                return
            carrier = {
                name.decode("latin-1"): value.decode("latin-1")
                for name, value in scope["headers"]
                if name in PROPAGATED_HEADERS
            }
            parent = propagate.extract(carrier) if carrier else None
            span = self.tracer.start_span(scope["path"], context=parent, kind=trace.SpanKind.SERVER)
            with trace.use_span(span, end_on_exit=True):
                await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)


def create_app(
    clients: ServiceClients,
    verifier: TokenVerifier,
    bus: EventBus | Callable[[], Awaitable[EventBus]] | None,
    *,
    cors_origins: Sequence[str] = (),
    introspection: bool = True,
    trusted_documents: str = "",
    batching: int = 0,
) -> Starlette:
    """`clients` are started in the lifespan (channels must be made inside the running loop), and
    `bus` connected there when it is given as a coroutine function (a worker process's own).
    `cors_origins`: browser origins allowed to call (PORTAL_CORS_ORIGINS); empty = same origin only.
    `introspection`: PORTAL_GRAPHQL_INTROSPECTION (introspection and field suggestions);
    `trusted_documents`: PORTAL_TRUSTED_DOCUMENTS (only those run); `batching`: PORTAL_GRAPHQL_BATCHING
    (at most that many operations per JSON array body; 0 = no batching)."""
    POLICY.introspection = introspection
    schema.config.batching_config = {"max_operations": batching} if batching > 0 else None
    live = LiveEvents()
    documents = Documents(load_trusted(trusted_documents) if trusted_documents else None)
    graphql = PortalGraphQL(clients, verifier, live, documents)
    connected: dict[str, EventBus | None] = {"bus": None if callable(bus) else bus}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        clients.start()
        if callable(bus):  # connected here, inside this worker's loop
            connected["bus"] = await bus()
        if connected["bus"] is not None:
            await live.start(connected["bus"])
        settle_heap()
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
        connection = getattr(connected["bus"], "_connection", None)
        closed = getattr(connection, "is_closed", False)
        broker = None if connected["bus"] is None else connection is None or not closed
        return JSONResponse({"ready": keys, "signingKeys": keys, "services": services, "broker": broker})

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/healthz/detail", health_detail),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            attachment_route(clients),
            *graphiql_assets.graphiql_routes(),
            *download_routes(clients),
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
    app.add_middleware(RequestEdge)  # added last: outermost
    return app

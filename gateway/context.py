"""Per-request context: the caller's token, verified lazily, gRPC calls carrying it, DataLoaders, and
the live event hub that subscriptions listen on."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from starlette.requests import HTTPConnection

from gateway.clients import ServiceClients
from gateway.errors import PortalError, from_rpc_error, unauthenticated
from gateway.live import LiveEvents
from gateway.tokens import Verifier
from portalkit import grpc_client
from portalkit.auth import Caller
from portalkit.errors import DomainError

T = TypeVar("T")
L = TypeVar("L")


@dataclass
class PortalContext:
    request: HTTPConnection
    clients: ServiceClients
    verifier: Verifier
    live: LiveEvents
    token: str = ""
    connection_params: dict[str, Any] | None = None  # set by the WebSocket handshake
    response: Any = None
    _caller: Caller | None = None
    _loaders: dict[Callable[[PortalContext], Any], Any] = field(default_factory=dict)
    # (conversion, id of a loaded message) → (that message, its graph object); see `converted`
    _converted: dict[tuple[Callable[..., Any], int], tuple[Any, Any]] = field(default_factory=dict)

    @functools.cached_property
    def base_url(self) -> str:
        """The request's base URL, over HTTP(S) also for a WebSocket: the links an answer holds
        (attachments' downloads) start with it. Made once per request, not per page converted."""
        return str(self.request.base_url).replace("ws://", "http://").replace("wss://", "https://")

    @property
    def client_address(self) -> str:
        """The peer address; behind a proxy, uvicorn's proxy_headers (trusted hosts only) set it."""
        return self.request.client.host if self.request.client else ""

    def bearer(self) -> str:
        if self.token:
            return self.token
        params = self.connection_params or {}
        raw = str(params.get("Authorization") or params.get("authorization") or params.get("authToken") or "")
        return raw.removeprefix("Bearer ").strip()

    def sign_in(self, access_token: str) -> None:
        """The rest of this operation acts as the user who just signed in (login, acceptInvitation,
        refreshSession): `login { user { account { name } } }` resolves `account` as that user."""
        self.token = access_token
        self._caller = None
        self.release()  # nothing loaded as the anonymous caller is reused

    def release(self) -> None:
        """Let go of what this context loaded and converted; the view calls it once a request's
        answer is made. Each DataLoader's load function holds the context, a cycle: without this
        a request's loaded messages and graph objects wait for the cyclic garbage collector (its
        collections walked about 1,000 objects per page of cases previewing their comments)
        instead of going as soon as the answer is sent."""
        self._loaders.clear()
        self._converted.clear()

    async def caller(self) -> Caller:
        """The verified caller; UNAUTHENTICATED without a valid token. The gateway checks the
        signature itself; each service checks it again."""
        if self._caller is None:
            token = self.bearer()
            if not token:
                raise unauthenticated("log in first: send an Authorization: Bearer <access token> header")
            try:
                self._caller = await self.verifier.verify(token)
            except DomainError as error:
                raise PortalError(error.message, "UNAUTHENTICATED", error.reason) from None
            except grpc.RpcError:
                raise PortalError("cannot verify tokens right now; try again shortly", "UNAVAILABLE") from None
        return self._caller

    async def call(self, service: str, method: Callable[..., Awaitable[T]], request: Any, *, auth: bool = True) -> T:
        """Call a service with the caller's token and the deadline; map a failure to a GraphQL error."""
        metadata: tuple[tuple[str, str], ...] = ()
        if auth:
            await self.caller()
            metadata = (("authorization", f"Bearer {self.bearer()}"),)
        try:
            return await grpc_client.call(method, request, metadata=metadata, timeout=self.clients.deadline)
        except grpc.RpcError as error:
            raise from_rpc_error(error, service) from None

    def converted(self, convert: Callable[[Any, PortalContext], T], message: Any) -> T:
        """`convert(message, self)`, made once per loaded message and request: a page of 50 cases
        opened by one requester converts that user once, and each case's `requester` is the same
        object (graph objects are read, never changed, while a request runs). The entry holds the
        message, so its id cannot pass to another message while the entry lives."""
        key = (convert, id(message))
        entry = self._converted.get(key)
        if entry is None:
            entry = self._converted[key] = (message, convert(message, self))
        return entry[1]  # type: ignore[no-any-return]

    def loader(self, factory: Callable[[PortalContext], L]) -> L:
        """One DataLoader per factory and request, so a list of N items costs one batch call."""
        if factory not in self._loaders:
            self._loaders[factory] = factory(self)
        return self._loaders[factory]

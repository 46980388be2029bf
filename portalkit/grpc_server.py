"""gRPC server bootstrap: guarded by default, errors mapped, metrics, health, reflection, graceful stop.

Every method of every service goes through `GuardInterceptor`: it verifies the caller's access token
unless the method is in the service's own short list of public methods, and makes the verified
caller available to the handler through `caller()`; handlers never parse metadata. A DomainError
becomes its status code with the reason in a google.rpc.ErrorInfo detail; anything else is logged
and becomes a bare INTERNAL. The same holds for unary-stream methods (downloads).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
import grpc.aio
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import metrics

from portalkit import errors
from portalkit.auth import Caller, bearer_token

log = logging.getLogger(__name__)
STATUS_DETAILS_KEY = "grpc-status-details-bin"
ERROR_DOMAIN = "portal"

STATUS_OF: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    errors.Conflict: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}

# Turns a verified token into the caller a handler sees (identity also checks the session is live).
Authenticate = Callable[[str], Awaitable[Caller]]

_current_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("portal_caller", default=None)
_current_token: contextvars.ContextVar[str] = contextvars.ContextVar("portal_token", default="")
_rpc_duration = metrics.get_meter("portalkit.grpc").create_histogram(
    "rpc.server.duration", unit="ms", description="gRPC calls handled: rate, errors (by status) and duration"
)


def caller() -> Caller:
    """The verified caller of the current call (only inside a guarded method)."""
    found = _current_caller.get()
    if found is None:
        raise errors.Unauthenticated("missing access token")
    return found


def caller_token() -> str:
    """The verified caller's own access token, for a fresh read the service makes on their behalf
    (e.g. from identity, with a deadline); never stored."""
    return _current_token.get()


def status_code_of(error: errors.DomainError) -> grpc.StatusCode:
    for kind in type(error).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]  # type: ignore[index]
    return grpc.StatusCode.UNKNOWN


def _rpc_status(error: errors.DomainError | None) -> tuple[grpc.StatusCode, status_pb2.Status]:
    if error is None:
        return grpc.StatusCode.INTERNAL, status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")
    code = status_code_of(error)
    status = status_pb2.Status(code=code.value[0], message=error.message)
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN))
    return code, status


async def _abort(context: grpc.aio.ServicerContext, error: errors.DomainError | None) -> None:
    code, status = _rpc_status(error)
    await context.abort(code, status.message, trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),))


class _Call:
    """What the guard does around one call: authenticate, then classify the outcome for metrics."""

    def __init__(self, method: str, authenticate: Authenticate | None) -> None:
        self.service, _, self.name = method.lstrip("/").partition("/")
        self.method = method
        self.authenticate = authenticate
        self.started = time.perf_counter()
        self.status = "OK"

    async def enter(self, context: grpc.aio.ServicerContext) -> None:
        if self.authenticate is None:
            return
        token = bearer_token(context.invocation_metadata())
        if not token:
            raise errors.Unauthenticated("missing access token")
        _current_caller.set(await self.authenticate(token))
        _current_token.set(token)

    async def fail(self, context: grpc.aio.ServicerContext, error: Exception) -> None:
        if isinstance(error, errors.DomainError):
            self.status = status_code_of(error).name
            await _abort(context, error)
        elif isinstance(error, grpc.aio.AbortError):
            self.status = "ABORTED_BY_HANDLER"
            raise error
        else:
            self.status = "INTERNAL"
            log.error("unhandled error in %s", self.method, exc_info=error)
            await _abort(context, None)

    def record(self) -> None:
        attributes = {
            "rpc.system": "grpc",
            "rpc.service": self.service,
            "rpc.method": self.name,
            "rpc.grpc.status_code": self.status,
        }
        _rpc_duration.record((time.perf_counter() - self.started) * 1000, attributes)


class GuardInterceptor(grpc.aio.ServerInterceptor):
    """Guarded by default: only the methods named in `public_methods` (bare names, e.g. "Login")
    run without a verified caller. Health and reflection are not ours and pass untouched."""

    def __init__(self, service_names: Iterable[str], authenticate: Authenticate, public_methods: Iterable[str]) -> None:
        self._services = set(service_names)
        self._authenticate = authenticate
        self._public = frozenset(public_methods)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        service, _, name = details.method.lstrip("/").partition("/")
        if handler is None or service not in self._services:
            return handler
        authenticate = None if name in self._public else self._authenticate
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary, details.method, authenticate),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _unary_stream(handler.unary_stream, details.method, authenticate),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        raise RuntimeError(f"{details.method}: only unary-unary and unary-stream methods are supported")


def _unary(behavior: Callable[..., Awaitable[Any]], method: str, authenticate: Authenticate | None) -> Any:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        call = _Call(method, authenticate)
        try:
            await call.enter(context)
            return await behavior(request, context)
        except asyncio.CancelledError:
            call.status = "CANCELLED"
            raise
        except Exception as error:
            await call.fail(context, error)
        finally:
            call.record()

    return guarded


def _unary_stream(behavior: Callable[..., AsyncIterator[Any]], method: str, authenticate: Authenticate | None) -> Any:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        call = _Call(method, authenticate)
        try:
            await call.enter(context)
            async for item in behavior(request, context):
                yield item
        except asyncio.CancelledError:
            call.status = "CANCELLED"
            raise
        except Exception as error:
            await call.fail(context, error)
        finally:
            call.record()

    return guarded


class ServiceServer:
    """A grpc.aio server with the guard, health and reflection for the given servicers."""

    def __init__(
        self,
        name: str,
        add_servicers: Callable[[grpc.aio.Server], None],
        service_names: list[str],
        authenticate: Authenticate,
        public_methods: Iterable[str] = (),
        reflection_enabled: bool = False,
    ) -> None:
        self.name = name
        self._service_names = service_names
        self.server = grpc.aio.server(
            interceptors=[GuardInterceptor(service_names, authenticate, public_methods)],
            options=[("grpc.so_reuseport", 0)],
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        add_servicers(self.server)
        if reflection_enabled:  # PORTAL_GRPC_REFLECTION: an API map is for developers, not for attackers
            reflection.enable_server_reflection(
                [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
            )
        self.port = 0

    async def start(self, address: str) -> int:
        self.port = self.server.add_insecure_port(address)
        await self.server.start()
        for service in ["", *self._service_names]:
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info("%s listening", self.name, extra={"port": self.port})
        return self.port

    async def stop(self, grace: float = 5.0) -> None:
        """Report NOT_SERVING first so balancers drain, then let calls in flight finish."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)

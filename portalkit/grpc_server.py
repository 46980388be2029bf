"""gRPC server bootstrap: health checking, reflection, error mapping, graceful shutdown.

Every service builds its server here so that all of them behave the same: a DomainError raised by a
handler becomes its status code with the reason in a google.rpc.ErrorInfo detail; anything else is
logged and becomes a bare INTERNAL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import metrics

from portalkit.auth import Caller, TokenVerifier, bearer_token
from portalkit.errors import DomainError, Unauthenticated, internal_status, to_rpc_status

log = logging.getLogger(__name__)
STATUS_DETAILS_KEY = "grpc-status-details-bin"


async def _abort(context: grpc.aio.ServicerContext, error: DomainError | None) -> None:
    status = to_rpc_status(error) if error is not None else internal_status()
    await context.abort(
        grpc.StatusCode(next(c for c in grpc.StatusCode if c.value[0] == status.code)),
        status.message,
        trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),),
    )


_rpc_duration = metrics.get_meter("portalkit.grpc").create_histogram(
    "rpc.server.duration", unit="ms", description="gRPC calls handled: rate, errors (by status) and duration"
)


def _guard(behavior: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
    service, _, name = method.lstrip("/").partition("/")

    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        status = "OK"
        try:
            return await behavior(request, context)
        except DomainError as error:
            status = error.grpc_code.name
            await _abort(context, error)
        except grpc.aio.AbortError:
            status = "ABORTED_BY_HANDLER"
            raise
        except Exception:
            status = "INTERNAL"
            log.exception("unhandled error in %s", method)
            await _abort(context, None)
        finally:
            attributes = {
                "rpc.system": "grpc",
                "rpc.service": service,
                "rpc.method": name,
                "rpc.grpc.status_code": status,
            }
            _rpc_duration.record((time.perf_counter() - started) * 1000, attributes)

    return guarded


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _guard(handler.unary_unary, handler_call_details.method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class ServiceServer:
    """A grpc.aio server with health and reflection; `register` adds the service's servicers and
    returns their full service names (e.g. `identity.v1.IdentityService`)."""

    def __init__(self, name: str, register: Callable[[grpc.aio.Server], list[str]]) -> None:
        self.name = name
        self.server = grpc.aio.server(interceptors=[ErrorMappingInterceptor()])
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._service_names = register(self.server)
        reflection.enable_server_reflection(
            [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
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


async def require_caller(verifier: TokenVerifier, context: grpc.aio.ServicerContext) -> Caller:
    token = bearer_token(context.invocation_metadata())
    if not token:
        raise Unauthenticated("missing access token")
    return await verifier.verify(token)

"""Domain errors and their mapping to gRPC status (server side) and back (client side).

Domain code raises these; the gRPC error interceptor turns them into a status with a
google.rpc.ErrorInfo detail carrying the `reason`. Any other exception becomes INTERNAL with a
generic message: internals never leave the service.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "portal"


class DomainError(Exception):
    grpc_code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class InvalidInput(DomainError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(DomainError):
    grpc_code = grpc.StatusCode.NOT_FOUND


class Unauthenticated(DomainError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class Forbidden(DomainError):
    grpc_code = grpc.StatusCode.PERMISSION_DENIED


class Conflict(DomainError):
    grpc_code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION


class RateLimited(DomainError):
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


def to_rpc_status(error: DomainError) -> status_pb2.Status:
    detail = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN)
    status = status_pb2.Status(code=error.grpc_code.value[0], message=error.message)
    status.details.add().Pack(detail)
    return status


def internal_status() -> status_pb2.Status:
    return status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")


@dataclass(frozen=True)
class RemoteError:
    """What a client learns from a failed call: the status code, its message and the reason."""

    code: grpc.StatusCode
    message: str
    reason: str


def parse_rpc_error(error: grpc.RpcError) -> RemoteError:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = error.details() if hasattr(error, "details") else ""
    reason = ""
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except (ValueError, AttributeError):
        status = None
    if status is not None:
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                reason = info.reason
    return RemoteError(code=code, message=message or "", reason=reason)

"""The client side of the error mapping: what a caller learns from a failed gRPC call."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class RemoteError:
    """The status code, its message and the google.rpc.ErrorInfo reason (if any)."""

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

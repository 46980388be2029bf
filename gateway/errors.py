"""GraphQL errors with `extensions.code` (design.md section 7), and the mapping from gRPC status.

Every error that leaves the gateway goes through `shape_error`: ours keep their code; parse and
validation errors become BAD_USER_INPUT; anything else becomes a bare INTERNAL (details are logged,
never sent).
"""

from __future__ import annotations

import logging
import re

import grpc
from graphql import GraphQLError

from portalkit.grpc_client import parse_rpc_error

log = logging.getLogger(__name__)

CODE_BY_STATUS = {
    grpc.StatusCode.UNAUTHENTICATED: "UNAUTHENTICATED",
    grpc.StatusCode.PERMISSION_DENIED: "FORBIDDEN",
    grpc.StatusCode.NOT_FOUND: "NOT_FOUND",
    grpc.StatusCode.INVALID_ARGUMENT: "BAD_USER_INPUT",
    grpc.StatusCode.OUT_OF_RANGE: "BAD_USER_INPUT",
    grpc.StatusCode.ALREADY_EXISTS: "CONFLICT",
    grpc.StatusCode.ABORTED: "CONFLICT",
    grpc.StatusCode.FAILED_PRECONDITION: "FAILED_PRECONDITION",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "RATE_LIMITED",
    grpc.StatusCode.UNAVAILABLE: "UNAVAILABLE",
    grpc.StatusCode.DEADLINE_EXCEEDED: "UNAVAILABLE",
}


class PortalError(GraphQLError):
    """An error meant for the client: message, code and, where there is one, a reason."""

    def __init__(self, message: str, code: str, reason: str = "") -> None:
        extensions: dict[str, object] = {"code": code}
        if reason:
            extensions["reason"] = reason
        super().__init__(message, extensions=extensions)


def unauthenticated(message: str = "log in first", reason: str = "") -> PortalError:
    return PortalError(message, "UNAUTHENTICATED", reason)


def bad_input(message: str, reason: str = "") -> PortalError:
    return PortalError(message, "BAD_USER_INPUT", reason)


def from_rpc_error(error: grpc.RpcError, service: str) -> PortalError:
    remote = parse_rpc_error(error)
    code = CODE_BY_STATUS.get(remote.code)
    if code is None:
        log.error("%s failed: %s %s", service, remote.code, remote.message)
        return PortalError("internal error", "INTERNAL")
    if code == "UNAVAILABLE":
        return PortalError(f"the {service} service is unavailable; try again shortly", code)
    return PortalError(remote.message, code, remote.reason)


SUGGESTION = re.compile(r"\s*Did you mean .*\?$")


def without_suggestions(error: GraphQLError) -> GraphQLError:
    """The same error without graphql-core's "Did you mean …?" hint (it reveals schema names)."""
    message = SUGGESTION.sub("", error.message)
    if message == error.message:
        return error
    return GraphQLError(message, nodes=error.nodes, path=error.path, extensions=error.extensions)


# graphql-core echoes the value of a variable that does not coerce; the value may hold a password or
# a hash, so the client is told which variable and why, never what it sent.
_ECHOES = [
    (re.compile(r"(got invalid value) .*?(;|$)", re.S), r"\1\2"),
    (re.compile(r", found:? .*\.$", re.S), "."),
    (re.compile(r"(cannot represent [^:]*value): .*$", re.S), r"\1."),
]


def without_quoted_values(message: str) -> str:
    if not message.startswith("Variable '$"):
        return message
    for pattern, replacement in _ECHOES:
        message = pattern.sub(replacement, message)
    return message


def shape_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, PortalError):
        return GraphQLError(original.message, nodes=error.nodes, path=error.path, extensions=original.extensions)
    if original is None and error.extensions and "code" in error.extensions:
        return error
    if error.path is None:
        # before any resolver ran: the document or its variables are wrong
        reason = "GRAPHQL_PARSE_FAILED" if error.message.startswith("Syntax Error") else "GRAPHQL_VALIDATION_FAILED"
        message = without_quoted_values(error.message)
        return GraphQLError(message, nodes=error.nodes, extensions={"code": "BAD_USER_INPUT", "reason": reason})
    log.error("unhandled resolver error", exc_info=original)
    return GraphQLError("internal error", nodes=error.nodes, path=error.path, extensions={"code": "INTERNAL"})

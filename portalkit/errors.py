"""Domain errors: what went wrong, in words a person can act on, and an optional machine `reason`.

Plain exceptions, free of any transport: the gRPC server layer (`grpc_server.py`) maps each kind
to its status code, the gateway maps the status to a GraphQL `extensions.code`, and consumers treat
them as final (dead-lettered at once, never retried into success).
"""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class InvalidInput(DomainError):
    pass


class NotFound(DomainError):
    pass


class Unauthenticated(DomainError):
    pass


class Forbidden(DomainError):
    pass


class Conflict(DomainError):
    pass


class FailedPrecondition(DomainError):
    pass


class RateLimited(DomainError):
    pass


class Unavailable(DomainError):
    """A dependency cannot answer right now; worth retrying later."""

"""Configuration from the environment (12-factor). Variable names are fixed by design.md section 8.

`PortalSettings` holds what every process reads; each service has one settings class of its own
(`ServiceSettings` subclass in its `service.py`) that adds its database, its port and its own knobs.
Keyword arguments override the environment, which is how the embedded stack and tests configure.
"""

from __future__ import annotations

import os
import socket
from typing import Any, ClassVar

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("identity", "contacts", "cases", "billing")
DEFAULT_GRPC_PORTS = {"identity": 50051, "contacts": 50052, "cases": 50053, "billing": 50054}


def service_grpc_port(service: str) -> int:
    return int(os.environ.get(f"PORTAL_{service.upper()}_GRPC_PORT", DEFAULT_GRPC_PORTS[service]))


def service_grpc_address(service: str) -> str:
    """Where clients reach a service, e.g. `identity:50051` in docker-compose."""
    return os.environ.get(f"PORTAL_{service.upper()}_GRPC_ADDR", f"127.0.0.1:{service_grpc_port(service)}")


class PortalSettings(BaseSettings):
    """Settings shared by every process."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore")

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    smtp_url: str = ""
    # Where outgoing mail is written as .eml files when no SMTP server is configured.
    mail_dir: str = ".portal-mail"
    mail_from: str = "Customer Portal <no-reply@portal.test>"
    public_url: str = "http://127.0.0.1:8000"
    gateway_port: int = 8000
    # Gateway worker processes sharing the port (each has its own live-event queue, so every
    # subscription gets its events whichever worker holds it); 1 = the gateway in one process.
    gateway_workers: int = Field(default=1, ge=1, le=64)
    grpc_deadline_seconds: float = 5.0
    # Where identity is reached for its public signing keys (every process verifies tokens).
    identity_grpc_addr: str = ""
    # Comma-separated browser origins allowed to call the gateway; empty = same origin only ("*" = any, no credentials).
    cors_origins: str = ""
    # Introspection and "Did you mean …" suggestions for callers: on for the embedded run, off in production.
    graphql_introspection: bool = True
    # gRPC server reflection (lets grpcurl list the API); off unless asked for (the embedded run does).
    grpc_reflection: bool = False
    # A file or folder of the front ends' operations; when set, only those run (by hash or text).
    trusted_documents: str = ""
    # Operations per JSON-array (batched) request; 0 = batching off.
    graphql_batching: int = 0
    # Comma-separated proxy addresses whose X-Forwarded-For the gateway believes (none by default).
    trusted_proxies: str = ""

    @model_validator(mode="after")
    def _identity_address(self) -> PortalSettings:
        if not self.identity_grpc_addr:
            self.identity_grpc_addr = service_grpc_address("identity")
        return self


class ServiceSettings(PortalSettings):
    """What every service adds: its own database and port, read from PORTAL_<SERVICE>_MONGODB_URI
    and PORTAL_<SERVICE>_GRPC_PORT (named per service, so one environment can hold all of them)."""

    service: ClassVar[str]
    # Seconds between outbox sweeps (a write also wakes the relay at once).
    outbox_poll_seconds: float = 1.0

    @property
    def mongodb_uri(self) -> str:
        return os.environ.get(f"PORTAL_{self.service.upper()}_MONGODB_URI", "memory://")

    @property
    def grpc_port(self) -> int:
        return service_grpc_port(self.service)

    @property
    def database_name(self) -> str:
        return f"portal_{self.service}"


class PortInUse(SystemExit):
    """Exits with one line (no traceback) naming the port and the variable that moves it."""


def port_in_use_message(component: str, address: str, variable: str) -> str:
    return f"{component}: cannot listen on {address} (port in use?); set {variable} to a free port"


def ensure_port_free(host: str, port: int, component: str, variable: str) -> None:
    """Bind-test `host:port` (without SO_REUSEPORT) and raise PortInUse if something listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(port_in_use_message(component, f"{host}:{port}", variable)) from exc


def cors_origin_list(value: str) -> list[str]:
    return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]


def settings_for(kind: type[PortalSettings], overrides: dict[str, Any] | None = None) -> Any:
    """`kind` from the environment, with the `overrides` it has fields for (others are ignored)."""
    return kind(**{k: v for k, v in (overrides or {}).items() if k in kind.model_fields})
